package clusterkey

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
)

func TestMain(m *testing.M) {
	// Cheap parameters for the keys the tests make; TestDefaultParams
	// derives one with the real ones.
	newKeyParams = Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

const (
	secret = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
	other  = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyb3Q="
)

var ctx = context.Background()

// TestOpen: the first server sets the cluster key up; another with the same
// secret derives the same key (what one seals the other opens); one with
// another secret is refused with ErrWrongSecret naming the key, and the
// database holds neither secret nor key.
func TestOpen(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			s1, s2 := open(t, driver, dsn), open(t, driver, dsn)
			k1, created, err := Open(ctx, s1.ClusterSecrets(), secret)
			if err != nil || !created {
				t.Fatalf("first Open: created %v, %v", created, err)
			}
			k2, created, err := Open(ctx, s2.ClusterSecrets(), secret)
			if err != nil || created {
				t.Fatalf("second Open: created %v, %v", created, err)
			}
			sealed, err := k1.Seal([]byte("private key"), "cluster CA agents")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k2.Open(sealed, "cluster CA agents"); err != nil || string(got) != "private key" {
				t.Errorf("the second server opened %q, %v", got, err)
			}

			_, _, err = Open(ctx, s2.ClusterSecrets(), other)
			if !errors.Is(err, ErrWrongSecret) || !strings.Contains(err.Error(), "server.cluster_secret differs from the secret this cluster's database was set up with") {
				t.Errorf("Open with another secret: %v", err)
			}
			if strings.Contains(err.Error(), other) || strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes a secret: %v", err)
			}

			k, err := s1.ClusterSecrets().Key(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k.KDF != KDF || k.Params != newKeyParams.String() || len(k.Salt) != 32 {
				t.Errorf("stored key parameters %+v", k)
			}
			if bytes.Contains(k.Check, []byte(checkText)) || bytes.Contains(k.Check, []byte(secret)) || bytes.Contains(k.Salt, []byte(secret)) {
				t.Error("the stored check value holds its text or the secret in clear")
			}
		})
	}
}

// TestOpenRace: servers starting at once on an empty database all end
// with the key of the one that stored it first.
func TestOpenRace(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			const n = 4
			keys := make([]*Key, n)
			errs := make([]error, n)
			stores := make([]store.Store, n)
			for i := range stores {
				stores[i] = open(t, driver, dsn)
			}
			var wg sync.WaitGroup
			for i := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					keys[i], _, errs[i] = Open(ctx, stores[i].ClusterSecrets(), secret)
				}()
			}
			wg.Wait()
			sealed, err := keys[0].Seal([]byte("x"), "p")
			if err != nil {
				t.Fatal(err)
			}
			for i := range keys {
				if errs[i] != nil {
					t.Fatalf("server %d: %v", i, errs[i])
				}
				if got, err := keys[i].Open(sealed, "p"); err != nil || string(got) != "x" {
					t.Errorf("server %d has another key: %v", i, err)
				}
			}
		})
	}
}

// TestSealTampered: a sealed value altered anywhere, truncated, opened for
// another purpose or with another key does not open; a seal never holds
// its plaintext and two seals of one plaintext differ.
func TestSealTampered(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, 16)
	k, err := Derive(secret, salt, newKeyParams)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("-----BEGIN PRIVATE KEY----- the CA key")
	sealed, err := k.Seal(plain, "cluster CA agents")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := k.Seal(plain, "cluster CA agents")
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one plaintext are equal: the nonce is not fresh")
	}
	if bytes.Contains(sealed, plain[:16]) {
		t.Error("the sealed value holds its plaintext")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := k.Open(bad, "cluster CA agents"); !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d altered: %v, want ErrTampered", i, err)
		}
	}
	if _, err := k.Open(sealed[:len(sealed)-1], "cluster CA agents"); !errors.Is(err, ErrTampered) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := k.Open(nil, "cluster CA agents"); !errors.Is(err, ErrTampered) {
		t.Errorf("empty: %v", err)
	}
	if _, err := k.Open(sealed, "cluster CA api"); !errors.Is(err, ErrTampered) {
		t.Errorf("opened for another purpose: %v", err)
	}
	k2, err := Derive(other, salt, newKeyParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(sealed, "cluster CA agents"); !errors.Is(err, ErrTampered) {
		t.Errorf("opened with another secret's key: %v", err)
	}
	if got, err := k.Open(sealed, "cluster CA agents"); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("Open = %q, %v", got, err)
	}
}

// TestStoredKeyChecked: stored parameters that are unknown, malformed or
// out of bounds are refused rather than used.
func TestStoredKeyChecked(t *testing.T) {
	for _, p := range []string{"", "m=65536,t=1", "m=65536,t=1,p=2,x", "m=4,t=1,p=2", "m=65536,t=0,p=2", "m=99999999,t=1,p=2", "m=65536,t=1,p=300"} {
		if _, err := ParseParams(p); err == nil {
			t.Errorf("ParseParams(%q) accepted", p)
		}
	}
	if p, err := ParseParams(DefaultParams.String()); err != nil || p != DefaultParams {
		t.Errorf("ParseParams(%q) = %+v, %v", DefaultParams, p, err)
	}
	s := teststore.Open(t, "sqlite")
	if _, err := s.ClusterSecrets().InitKey(ctx, &store.ClusterKey{KDF: "scrypt", Params: "x", Salt: []byte("s"), Check: []byte("c"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(ctx, s.ClusterSecrets(), secret); err == nil || !strings.Contains(err.Error(), "scrypt") {
		t.Errorf("Open with an unknown KDF: %v", err)
	}
}

func open(t *testing.T, driver, dsn string) store.Store {
	t.Helper()
	s, err := store.Open(ctx, driver, dsn, testlog.New(t, hclog.Warn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestDefaultParams: a cluster key made with the parameters a server uses
// seals and opens.
func TestDefaultParams(t *testing.T) {
	k, err := Derive(secret, bytes.Repeat([]byte{1}, 32), DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal([]byte("x"), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(sealed, "p"); err != nil || string(got) != "x" {
		t.Errorf("Open = %q, %v", got, err)
	}
}

// BenchmarkDerive: what deriving the cluster key with DefaultParams costs a
// server at start.
func BenchmarkDerive(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, 32)
	for b.Loop() {
		if _, err := Derive(secret, salt, DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}
