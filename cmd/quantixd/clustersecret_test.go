package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// secretServer is a `quantixd server` of a test cluster, its API over TLS.
type secretServer struct {
	*proc
	dir, api string
}

// startSecretServer starts `quantixd server` on a fresh data_dir, on the
// PostgreSQL database dsn with extra HCL in its server block, its API over
// TLS (server.tls.mode "on"), and waits until it serves.
func startSecretServer(t *testing.T, dsn, extra string) *secretServer {
	t.Helper()
	return startSecretServerIn(t, t.TempDir(), dsn, extra)
}

// startSecretServerIn is startSecretServer on data_dir dir.
func startSecretServerIn(t *testing.T, dir, dsn, extra string) *secretServer {
	t.Helper()
	s := spawnSecretServerIn(t, dir, dsn, extra)
	wait.Until(t, 60*time.Second, "the server to serve its API", func() bool {
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.log)
			t.Fatalf("quantixd server exited at start (%v):\n%s", s.err, b)
		default:
		}
		return s.logHas("API listening")
	})
	return s
}

// spawnSecretServer starts the server of startSecretServer without
// waiting for it.
func spawnSecretServer(t *testing.T, dsn, extra string) *secretServer {
	t.Helper()
	return spawnSecretServerIn(t, t.TempDir(), dsn, extra)
}

// spawnSecretServerIn is spawnSecretServer on data_dir dir.
func spawnSecretServerIn(t *testing.T, dir, dsn, extra string) *secretServer {
	t.Helper()
	hcl := fmt.Sprintf("server {\n  database {\n    driver = \"postgres\"\n    dsn    = %q\n  }\n%s\n}\n", dsn, extra)
	api, rpc := freeAddr(t), ""
	for rpc == "" || rpc == api {
		rpc = freeAddr(t)
	}
	p := spawn(t, "server", "-config", writeMTLSConfig(t, dir, hcl), "-data-dir", dir, "-http-addr", api, "-rpc-addr", rpc, "-tls-mode", "on")
	p.url, p.rpc = "https://"+api, rpc
	return &secretServer{proc: p, dir: dir, api: api}
}

// chainCA dials addr over TLS (trusting anything: what is checked is what
// it presents) and returns the SHA-256 of the leaf certificate and of the
// CA certificate that follows it.
func chainCA(t *testing.T, addr string) (leaf, ca string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	if len(chain) != 2 {
		t.Fatalf("%s presents %d certificates, want the server's and its CA's", addr, len(chain))
	}
	sum := func(c *x509.Certificate) string { s := sha256.Sum256(c.Raw); return hex.EncodeToString(s[:]) }
	return sum(chain[0]), sum(chain[1])
}

// apiClient trusts only the CA certificate in caFile.
func apiClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// callAPI sends a JSON request with token and decodes the reply.
func callAPI(t *testing.T, c *http.Client, url, token, method, path, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, url, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{status: res.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s %s: reply is not JSON: %v: %s", method, path, err, b)
	}
	return r
}

func newSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestClusterSecretServers: two servers on one PostgreSQL database with the
// same cluster secret (one from a file, one from the environment) and
// their own data dirs present the same agent CA and the same API CA, each
// with its own server certificate; the ca.crt of either data dir makes a
// client trust both APIs. An agent listing both servers enrolls through
// the first with a join token and, when that server is killed, connects
// to the second with the certificate it got. A server with another
// secret, and one with none, refuse to start saying what to set; the
// secret never shows in a log.
func TestClusterSecretServers(t *testing.T) {
	requireDaemon(t)
	dsn := teststore.PostgresDSN(t)
	secret := newSecret(t)
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s1 := startSecretServer(t, dsn, fmt.Sprintf("  cluster_secret_file = %q", secretFile))
	for _, line := range []string{"cluster key set up in the database", `made the cluster's CA and stored it in the database, its key sealed with the cluster key: ca=agents`, `ca=api`} {
		if !s1.logHas(line) {
			t.Errorf("server 1's log lacks %q", line)
		}
	}

	// Another secret is refused, naming the key; so is no secret.
	wrong := spawnSecretServer(t, dsn, fmt.Sprintf("  cluster_secret = %q", newSecret(t)))
	if out := wrong.exited(t); !strings.Contains(out, "server.cluster_secret differs from the secret this cluster's database was set up with") {
		t.Errorf("a server with another secret:\n%s", out)
	}
	none := spawnSecretServer(t, dsn, "")
	if out := none.exited(t); !strings.Contains(out, "set server.cluster_secret") {
		t.Errorf("a server without a secret:\n%s", out)
	}

	t.Setenv("QUANTIX_SERVER_CLUSTER_SECRET", secret)
	s2 := startSecretServer(t, dsn, "")
	if !s2.logHas("server.cluster_secret matches the cluster's") || s2.logHas("made the cluster's CA") {
		t.Error("server 2 did not take the cluster's CAs from the database")
	}

	// One agent CA, one API CA; a server certificate per server.
	leaf1, agentCA1 := chainCA(t, s1.rpc)
	leaf2, agentCA2 := chainCA(t, s2.rpc)
	if agentCA1 != agentCA2 || leaf1 == leaf2 {
		t.Errorf("agent ports: CAs %s and %s (want one), server certificates %s and %s (want two)", agentCA1, agentCA2, leaf1, leaf2)
	}
	apiLeaf1, apiCA1 := chainCA(t, s1.api)
	apiLeaf2, apiCA2 := chainCA(t, s2.api)
	if apiCA1 != apiCA2 || apiLeaf1 == apiLeaf2 || apiCA1 == agentCA1 {
		t.Errorf("APIs: CAs %s and %s (want one, not the agent CA %s), server certificates %s and %s (want two)", apiCA1, apiCA2, agentCA1, apiLeaf1, apiLeaf2)
	}
	for _, s := range []*secretServer{s1, s2} {
		if !s.logHas(agentCA1) {
			t.Errorf("the log of the server on %s does not give the agent CA's fingerprint %s", s.rpc, agentCA1)
		}
		if _, err := os.Stat(filepath.Join(s.dir, "pki", "agents", "ca.key")); err == nil {
			t.Errorf("%s holds the agent CA's key: it belongs in the database only", s.dir)
		}
	}

	// A client given server 2's ca.crt trusts both; users are the
	// cluster's, and so are join tokens.
	c := apiClient(t, filepath.Join(s2.dir, "pki", "api", "ca.crt"))
	pw, err := os.ReadFile(filepath.Join(s1.dir, auth.PasswordFileName))
	if err != nil {
		t.Fatal(err)
	}
	login := fmt.Sprintf(`{"username":%q,"password":%q,"kind":"token"}`, auth.AdminUser, strings.TrimSpace(string(pw)))
	token := callAPI(t, c, s2.url, "", "POST", "/api/auth/login", login).str("token")
	if token == "" {
		t.Fatal("no API token from logging in through server 2")
	}
	r := callAPI(t, c, s1.url, token, "POST", "/api/join-tokens", `{}`)
	joinText := r.str("token")
	if r.status != http.StatusCreated || joinText == "" {
		t.Fatalf("join token through server 1: %s", r.raw)
	}

	node := mtlsPrefix + "cluster-secret"
	a := startMTLSAgent(t, nil, s1.rpc+","+s2.rpc, node, joinText, "")
	attachedTo := func(s *secretServer) func() bool {
		return func() bool {
			b, _ := os.ReadFile(a.log)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "session attached") && strings.Contains(l, "server="+s.rpc) {
					return true
				}
			}
			return false
		}
	}
	wait.Until(t, 60*time.Second, "the agent to enroll and attach to server 1", attachedTo(s1))
	wait.Until(t, 10*time.Second, "server 1 to attach the agent's session", func() bool { return s1.logHas("session attached: node=" + node) })

	if err := syscall.Kill(-s1.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s1.done
	wait.Until(t, 60*time.Second, "the agent to attach to server 2 with its certificate", attachedTo(s2))
	wait.Until(t, 10*time.Second, "server 2 to attach the agent's session", func() bool { return s2.logHas("session attached: node=" + node) })
	if n := a.count("node enrolled"); n != 1 {
		t.Errorf("the agent enrolled %d times; want once, through server 1", n)
	}

	for _, p := range []*proc{s1.proc, s2.proc, wrong.proc, none.proc, a.proc} {
		if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte(secret)) {
			t.Errorf("the cluster secret shows in the log %s", p.log)
		}
	}
	s2.stop(t)
}

// TestClusterSecretLiveServers: on PostgreSQL a server without a secret
// refuses to start while another server is live on the database, and a
// server with one refuses to set the cluster up while a server without a
// secret is live; its own earlier run (same agent address) and a server
// that stopped do not count.
func TestClusterSecretLiveServers(t *testing.T) {
	ctx := context.Background()
	st := teststore.Open(t, "postgres")
	cfg := config.Default()
	cfg.Server.Database.Driver, cfg.Server.RPCAddr = "postgres", "127.0.0.1:7001"
	log := hclog.NewNullLogger()

	if key, err := openClusterKey(ctx, cfg, st, log); key != nil || err != nil {
		t.Fatalf("alone on the database: %v, %v", key, err)
	}
	// This server's earlier run, killed without stopping.
	if err := st.Cluster().RegisterServer(ctx, &store.ServerRecord{ID: "earlier", Name: "me", RPCAddr: "127.0.0.1:7001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := openClusterKey(ctx, cfg, st, log); err != nil {
		t.Fatalf("with its own earlier run registered: %v", err)
	}
	if err := st.Cluster().RegisterServer(ctx, &store.ServerRecord{ID: "other", Name: "s-other", RPCAddr: "10.0.0.2:8081"}); err != nil {
		t.Fatal(err)
	}
	_, err := openClusterKey(ctx, cfg, st, log)
	if err == nil || !strings.Contains(err.Error(), `server "s-other" (10.0.0.2:8081) is running on this database`) ||
		!strings.Contains(err.Error(), "set server.cluster_secret (or QUANTIX_SERVER_CLUSTER_SECRET) on every server") {
		t.Errorf("no secret beside a live server: %v", err)
	}
	cfg.Server.ClusterSecret = newSecret(t)
	_, err = openClusterKey(ctx, cfg, st, log)
	if err == nil || !strings.Contains(err.Error(), `server "s-other" (10.0.0.2:8081) is running on this database without server.cluster_secret`) {
		t.Errorf("setting the cluster up beside a live server without a secret: %v", err)
	}
	if _, err := st.ClusterSecrets().Key(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused server set the cluster key up: %v", err)
	}

	if err := st.Cluster().StopServer(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if key, err := openClusterKey(ctx, cfg, st, log); key == nil || err != nil {
		t.Fatalf("with the other server stopped: %v, %v", key, err)
	}
	// Now the database is the cluster's: no secret is refused even alone.
	cfg.Server.ClusterSecret = ""
	if _, err := openClusterKey(ctx, cfg, st, log); err == nil || !strings.Contains(err.Error(), "set server.cluster_secret") {
		t.Errorf("no secret on a cluster's database: %v", err)
	}
}

// TestClusterSecretImport: a server that ran alone on PostgreSQL, restarted
// with a cluster secret, imports the CAs of its data dir (logging it): it
// presents the same CAs as before, and so does a second server with the
// secret; the first keeps its files.
func TestClusterSecretImport(t *testing.T) {
	requireDaemon(t)
	dsn := teststore.PostgresDSN(t)
	dir := t.TempDir()
	alone := startSecretServerIn(t, dir, dsn, "")
	_, agentCA := chainCA(t, alone.rpc)
	_, apiCA := chainCA(t, alone.api)
	alone.stop(t)

	withSecret := fmt.Sprintf("  cluster_secret = %q", newSecret(t))
	s1 := startSecretServerIn(t, dir, dsn, withSecret)
	for _, line := range []string{
		"imported the CA kept under data_dir into the database: every server of the cluster uses it from now on: ca=agents",
		"imported the CA kept under data_dir into the database: every server of the cluster uses it from now on: ca=api",
	} {
		if !s1.logHas(line) {
			t.Errorf("the upgraded server's log lacks %q", line)
		}
	}
	s2 := startSecretServer(t, dsn, withSecret)
	for _, s := range []*secretServer{s1, s2} {
		if _, got := chainCA(t, s.rpc); got != agentCA {
			t.Errorf("the agent port on %s presents CA %s, want the imported %s", s.rpc, got, agentCA)
		}
		if _, got := chainCA(t, s.api); got != apiCA {
			t.Errorf("the API on %s presents CA %s, want the imported %s", s.api, got, apiCA)
		}
	}
	for _, name := range []string{"agents", "api"} {
		if _, err := os.Stat(filepath.Join(dir, "pki", name, "ca.key")); err != nil {
			t.Errorf("the upgraded server's own CA key is gone: %v", err)
		}
	}
	s2.stop(t)
	s1.stop(t)
}

// TestClusterSecretConcurrentStarts: three servers started at once with the
// same secret on an empty database end with one agent CA and one API CA,
// made by one of them.
func TestClusterSecretConcurrentStarts(t *testing.T) {
	requireDaemon(t)
	dsn := teststore.PostgresDSN(t)
	extra := fmt.Sprintf("  cluster_secret = %q", newSecret(t))
	servers := []*secretServer{spawnSecretServer(t, dsn, extra), spawnSecretServer(t, dsn, extra), spawnSecretServer(t, dsn, extra)}
	for _, s := range servers {
		wait.Until(t, 90*time.Second, "the server on "+s.api+" to serve its API", func() bool {
			select {
			case <-s.done:
				b, _ := os.ReadFile(s.log)
				t.Fatalf("quantixd server exited at start (%v):\n%s", s.err, b)
			default:
			}
			return s.logHas("API listening")
		})
	}
	_, agentCA := chainCA(t, servers[0].rpc)
	_, apiCA := chainCA(t, servers[0].api)
	made := map[string]int{}
	for _, s := range servers {
		if _, got := chainCA(t, s.rpc); got != agentCA {
			t.Errorf("the agent port on %s presents CA %s, server 1's %s", s.rpc, got, agentCA)
		}
		if _, got := chainCA(t, s.api); got != apiCA {
			t.Errorf("the API on %s presents CA %s, server 1's %s", s.api, got, apiCA)
		}
		for _, name := range []string{"agents", "api"} {
			made[name] += s.count("made the cluster's CA and stored it in the database, its key sealed with the cluster key: ca=" + name + " ")
		}
		made["key"] += s.count("cluster key set up in the database")
	}
	if made["agents"] != 1 || made["api"] != 1 || made["key"] != 1 {
		t.Errorf("the servers made %v; want the key and each CA made once", made)
	}
}
