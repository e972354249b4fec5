package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/clusterkey"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

const testSecret = "c2VjcmV0IG9mIHRoZSB0ZXN0IGNsdXN0ZXIgMTIzNDU="

// server is what one server of a test cluster has: its own connection to
// the shared database, the cluster key and its own data dir.
type server struct {
	st  store.Store
	key *clusterkey.Key
	dir string
}

func newServer(t *testing.T, driver, dsn string) server {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn, testlog.New(t, hclog.Warn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	key, _, err := clusterkey.Open(context.Background(), st.ClusterSecrets(), testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return server{st: st, key: key, dir: filepath.Join(t.TempDir(), "pki", "agents")}
}

func (s server) shared(name string) (*CA, Origin, error) {
	return LoadOrCreateSharedCA(context.Background(), SharedCAOptions{
		Repo: s.st.ClusterSecrets(), Key: s.key, Name: name, CommonName: "test " + name + " CA", Dir: s.dir,
	})
}

// TestSharedCA: the first server makes the CA and stores it, its key
// sealed (never in clear); another server with its own data dir gets the
// same CA; each issues its own server certificate from it, which the
// other's pool verifies; the data dirs get ca.crt and no key.
func TestSharedCA(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			s1, s2 := newServer(t, driver, dsn), newServer(t, driver, dsn)
			ca1, origin, err := s1.shared("agents")
			if err != nil || origin != Created {
				t.Fatalf("first server: origin %q, %v", origin, err)
			}
			ca2, origin, err := s2.shared("agents")
			if err != nil || origin != FromDatabase {
				t.Fatalf("second server: origin %q, %v", origin, err)
			}
			if ca1.Fingerprint() != ca2.Fingerprint() || !ca1.key.Equal(ca2.key) {
				t.Fatalf("the servers have different CAs: %s, %s", ca1.Fingerprint(), ca2.Fingerprint())
			}
			if ca2.Dir() != s2.dir {
				t.Errorf("Dir() = %s, want %s", ca2.Dir(), s2.dir)
			}
			for _, s := range []server{s1, s2} {
				crt, err := os.ReadFile(filepath.Join(s.dir, CACertFile))
				if err != nil || !bytes.Equal(crt, ca1.CertPEM()) {
					t.Errorf("%s/ca.crt is not the cluster CA's certificate: %v", s.dir, err)
				}
				if _, err := os.Stat(filepath.Join(s.dir, CAKeyFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s/ca.key was written (%v): the key stays in the database", s.dir, err)
				}
			}
			leaf2, err := ca2.LoadOrIssueServer(s2.dir, []string{"server2.example"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf2.Leaf.Verify(x509.VerifyOptions{Roots: ca1.Pool(), DNSName: "server2.example", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("server 2's certificate does not verify against server 1's CA: %v", err)
			}

			// A restart loads the same CA and keeps ca.crt as it is.
			again, origin, err := s1.shared("agents")
			if err != nil || origin != FromDatabase || again.Fingerprint() != ca1.Fingerprint() {
				t.Errorf("restart: %q %v", origin, err)
			}

			row, err := s1.st.ClusterSecrets().CA(context.Background(), "agents")
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(ca1.key)
			if err != nil {
				t.Fatal(err)
			}
			pemKey, _ := encodeKey(ca1.key)
			d := ca1.key.D.Bytes()
			if bytes.Contains(row.SealedKey, d) || bytes.Contains(row.SealedKey, der) || bytes.Contains(row.SealedKey, pemKey[30:60]) || bytes.Contains(row.CertPEM, d) {
				t.Error("the database holds the CA's private key in clear")
			}
		})
	}
}

// TestSharedCAImport: with no CA in the database, the CA a server kept in
// its data dir while running alone becomes the cluster's (its agents keep
// working); its files stay; the next server gets it.
func TestSharedCAImport(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			s1, s2 := newServer(t, driver, dsn), newServer(t, driver, dsn)
			alone, err := LoadOrCreateCA(s1.dir, "the CA of a single server")
			if err != nil {
				t.Fatal(err)
			}
			ca1, origin, err := s1.shared("agents")
			if err != nil || origin != Imported || ca1.Fingerprint() != alone.Fingerprint() {
				t.Fatalf("import: origin %q, %v; fingerprint %s, want %s", origin, err, ca1.Fingerprint(), alone.Fingerprint())
			}
			if _, err := LoadOrCreateCA(s1.dir, "x"); err != nil {
				t.Errorf("the imported CA's files were changed: %v", err)
			}
			ca2, origin, err := s2.shared("agents")
			if err != nil || origin != FromDatabase || ca2.Fingerprint() != alone.Fingerprint() {
				t.Errorf("second server: origin %q, %v", origin, err)
			}

			// Half a pair with no CA in the database is refused, not
			// replaced by a new CA.
			for _, f := range []string{CACertFile, CAKeyFile} {
				half := newServer(t, driver, teststore.DSN(t, driver))
				if _, err := LoadOrCreateCA(half.dir, "x"); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(half.dir, f)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := half.shared("agents"); err == nil || !strings.Contains(err.Error(), "exists without its") {
					t.Errorf("%s removed: %v", f, err)
				}
				if _, err := half.st.ClusterSecrets().CA(context.Background(), "agents"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s removed: a CA was stored (%v)", f, err)
				}
			}

			// A server whose data dir holds another CA (set up alone) is
			// refused, and its files are left as they were.
			s3 := newServer(t, driver, dsn)
			own, err := LoadOrCreateCA(s3.dir, "another single server's CA")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s3.shared("agents")
			if err == nil || !strings.Contains(err.Error(), "not the cluster's \"agents\" CA") || !strings.Contains(err.Error(), s3.dir) {
				t.Errorf("a data dir with another CA: %v", err)
			}
			if kept, err := LoadOrCreateCA(s3.dir, "x"); err != nil || kept.Fingerprint() != own.Fingerprint() {
				t.Errorf("the refused CA's files were changed: %v", err)
			}
		})
	}
}

// TestSharedCARace: servers starting at once on an empty database end
// with one CA.
func TestSharedCARace(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			const n = 4
			servers := make([]server, n)
			for i := range servers {
				servers[i] = newServer(t, driver, dsn)
			}
			cas := make([]*CA, n)
			origins := make([]Origin, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range servers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cas[i], origins[i], errs[i] = servers[i].shared("api")
				}()
			}
			wg.Wait()
			created := 0
			for i := range servers {
				if errs[i] != nil {
					t.Fatalf("server %d: %v", i, errs[i])
				}
				if cas[i].Fingerprint() != cas[0].Fingerprint() {
					t.Errorf("server %d has CA %s, server 0 %s", i, cas[i].Fingerprint(), cas[0].Fingerprint())
				}
				if origins[i] == Created {
					created++
				}
			}
			if created != 1 {
				t.Errorf("%d servers report they created the CA (%v), want 1", created, origins)
			}
		})
	}
}

// TestSharedCATampered: a sealed key that was altered, or moved from
// another CA's row, is refused naming the CA; nothing is replaced.
func TestSharedCATampered(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := newServer(t, driver, teststore.DSN(t, driver))
			if _, _, err := s.shared("api"); err != nil {
				t.Fatal(err)
			}
			api, err := s.st.ClusterSecrets().CA(ctx, "api")
			if err != nil {
				t.Fatal(err)
			}
			// The api CA's row copied under the name agents.
			if _, err := s.st.ClusterSecrets().AddCA(ctx, &store.ClusterCA{Name: "agents", CertPEM: api.CertPEM, SealedKey: api.SealedKey, CreatedAt: api.CreatedAt}); err != nil {
				t.Fatal(err)
			}
			_, _, err = s.shared("agents")
			if err == nil || !strings.Contains(err.Error(), `cluster CA "agents"`) || !errors.Is(err, clusterkey.ErrTampered) {
				t.Errorf("a key moved from another CA: %v", err)
			}

			bad := s
			bad.st = tamperStore{Store: s.st}
			_, _, err = bad.shared("api")
			if err == nil || !strings.Contains(err.Error(), `cluster CA "api"`) || !errors.Is(err, clusterkey.ErrTampered) {
				t.Errorf("an altered key: %v", err)
			}
			if row, _ := s.st.ClusterSecrets().CA(ctx, "api"); !bytes.Equal(row.SealedKey, api.SealedKey) {
				t.Error("the stored CA was replaced")
			}
		})
	}
}

// tamperStore reads cluster CAs with one bit of their sealed key flipped,
// as a row altered in the database would read.
type tamperStore struct{ store.Store }

func (s tamperStore) ClusterSecrets() store.ClusterSecretRepo {
	return tamperRepo{s.Store.ClusterSecrets()}
}

type tamperRepo struct{ store.ClusterSecretRepo }

func (r tamperRepo) CA(ctx context.Context, name string) (*store.ClusterCA, error) {
	ca, err := r.ClusterSecretRepo.CA(ctx, name)
	if err == nil {
		ca.SealedKey = bytes.Clone(ca.SealedKey)
		ca.SealedKey[len(ca.SealedKey)/2] ^= 0x10
	}
	return ca, err
}
