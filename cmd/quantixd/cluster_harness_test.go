package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	qxclient "github.com/quantixvm/quantix/client"
	"github.com/quantixvm/quantix/internal/pgtest"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// The cluster harness: N `quantixd server` processes on one fresh
// PostgreSQL database (a new schema of the run's database), each reaching
// it through a TCP relay of its own that the test can cut (pgRelay), found
// and killed through their API.

// clusterOptions shape a test cluster.
type clusterOptions struct {
	// LeaseTTL and RenewInterval are server.cluster's (defaults: the
	// config's, 6s and 1s).
	LeaseTTL, RenewInterval time.Duration
	// Extra is more HCL for every server's config file (top level).
	Extra string
	// DirectDB has the servers dial PostgreSQL themselves, through no
	// relay (their relay is nil and cannot be cut): for benchmarks, where
	// relaying every byte in the test's process would weigh on what they
	// measure.
	DirectDB bool
}

// testCluster is a set of servers on one database.
type testCluster struct {
	t    testing.TB
	opts clusterOptions
	dsn  string
	// secret is every server's server.cluster_secret.
	secret string
	// adminDir is the data_dir of the first server, which created user
	// admin and wrote its password there; every server logs in with it.
	adminDir string
	Servers  []*clusterServer
}

// clusterServer is one server process of a testCluster.
type clusterServer struct {
	*proc
	// Name is its server.name, Dir its data_dir.
	Name, Dir string
	// relay carries its connections to PostgreSQL (nil with
	// clusterOptions.DirectDB).
	relay *pgRelay
	args  []string
}

// startCluster starts n servers on a fresh database with one cluster
// secret: the first alone (it creates the schema, user admin and the
// cluster's CAs in the database), then the others, which take the CAs from
// the database.
func startCluster(t testing.TB, n int, opts clusterOptions) *testCluster {
	t.Helper()
	requireDaemon(t)
	c := &testCluster{t: t, opts: opts, dsn: teststore.PostgresDSN(t), secret: newSecret(t)}
	c.Servers = append(c.Servers, c.newServer(0))
	c.Servers[0].start(t, "")
	c.adminDir = c.Servers[0].Dir
	c.Servers[0].login(t, c.adminDir)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		c.Servers = append(c.Servers, c.newServer(i))
	}
	for _, s := range c.Servers[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.start(t, c.adminDir)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return c
}

// newServer prepares server i: its data dir, relay and config file.
func (c *testCluster) newServer(i int) *clusterServer {
	t := c.t
	t.Helper()
	name := fmt.Sprintf("srv%d", i)
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dsn := c.dsn
	var relay *pgRelay
	if !c.opts.DirectDB {
		relay = newPGRelay(t)
		dsn = pgtest.WithParam(pgtest.WithParam(c.dsn, "host", "127.0.0.1"), "port", relay.port())
	}
	lease := ""
	if c.opts.LeaseTTL > 0 {
		lease += fmt.Sprintf("    lease_ttl = %q\n", c.opts.LeaseTTL.String())
	}
	if c.opts.RenewInterval > 0 {
		lease += fmt.Sprintf("    renew_interval = %q\n", c.opts.RenewInterval.String())
	}
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
%s
server {
  name = %q
  cluster_secret = %q
  database {
    driver = "postgres"
    dsn    = %q
  }
  cluster {
%s  }
}
`, dir, c.opts.Extra, name, c.secret, dsn, lease)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &clusterServer{Name: name, Dir: dir, relay: relay, args: []string{"server", "-config", path}}
}

// start runs the server's process on fresh ports and waits until its API
// answers; with adminDir it logs in with the password written there.
func (s *clusterServer) start(t testing.TB, adminDir string) {
	t.Helper()
	addr, rpc := freeAddr(t), ""
	for rpc == "" || rpc == addr {
		rpc = freeAddr(t)
	}
	args := append(append([]string{}, s.args...), "-http-addr", addr, "-rpc-addr", rpc)
	p := spawn(t, args...)
	p.url, p.rpc = "http://"+addr, rpc
	s.proc = p
	wait.UntilNil(t, 60*time.Second, fmt.Sprintf("server %s to answer on %s", s.Name, p.url), func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("server %s exited at start (%v):\n%s", s.Name, p.err, b)
		default:
		}
		resp, err := http.Get(p.url + "/api/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/health: %s", resp.Status)
		}
		return nil
	})
	if adminDir != "" {
		p.login(t, adminDir)
	}
}

// Restart starts a server that was killed or stopped again, as a new
// process (a new id in the cluster).
func (c *testCluster) Restart(s *clusterServer) {
	c.t.Helper()
	s.start(c.t, c.adminDir)
}

// running reports whether the server's process runs.
func (s *clusterServer) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the server's process group and waits for it.
func (s *clusterServer) Kill(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("server %s did not die of SIGKILL", s.Name)
	}
}

// Status reads GET /api/cluster from the server.
func (s *clusterServer) Status() (*qxclient.ClusterStatus, error) {
	res, err := s.get("/api/cluster")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/cluster on %s: %s: %s", s.Name, res.Status, b)
	}
	var st qxclient.ClusterStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("GET /api/cluster on %s: %w: %s", s.Name, err, b)
	}
	return &st, nil
}

// byID returns the running server whose process registered as id.
func (c *testCluster) byID(st *qxclient.ClusterStatus, id string) *clusterServer {
	for _, sv := range st.Servers {
		if sv.ID != id {
			continue
		}
		for _, s := range c.Servers {
			if s.Name == sv.Name && s.running() {
				return s
			}
		}
	}
	return nil
}

// Leader waits until a running server other than those in except reports,
// through GET /api/cluster, a live leader that is a running server not in
// except, with an epoch above minEpoch; it returns that server and epoch.
func (c *testCluster) Leader(within time.Duration, minEpoch int64, except ...*clusterServer) (*clusterServer, int64) {
	c.t.Helper()
	var (
		leader *clusterServer
		epoch  int64
	)
	excluded := func(s *clusterServer) bool {
		for _, e := range except {
			if s == e {
				return true
			}
		}
		return false
	}
	wait.UntilNil(c.t, within, fmt.Sprintf("a leader at an epoch above %d", minEpoch), func() error {
		var last error = fmt.Errorf("no running server to ask")
		for _, s := range c.Servers {
			if !s.running() || excluded(s) {
				continue
			}
			st, err := s.Status()
			if err != nil {
				last = err
				continue
			}
			if st.Leader == nil {
				last = fmt.Errorf("%s: no leader (epoch %d)", s.Name, st.Epoch)
				continue
			}
			l := c.byID(st, st.Leader.ServerID)
			if l == nil || excluded(l) || st.Leader.Epoch <= minEpoch {
				last = fmt.Errorf("%s: the leader is %s at epoch %d", s.Name, st.Leader.Name, st.Leader.Epoch)
				continue
			}
			leader, epoch = l, st.Leader.Epoch
			return nil
		}
		return last
	})
	return leader, epoch
}

// pgRelay is a TCP relay between one server and PostgreSQL. Cut closes
// every connection it carries and holds new ones open without relaying
// anything (as a network that drops packets would), until Restore.
type pgRelay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newPGRelay(t testing.TB) *pgRelay {
	t.Helper()
	return newRelay(t, pgTarget(t))
}

// newRelay is a relay (a pgRelay) to target, host:port.
func newRelay(t testing.TB, target string) *pgRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &pgRelay{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go r.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		r.closeAll()
	})
	return r
}

// pgTarget is the host:port of the test PostgreSQL server.
func pgTarget(t testing.TB) string {
	host, port := "127.0.0.1", "5432"
	for _, kv := range strings.Fields(pgtest.AdminDSN()) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	if strings.Contains(pgtest.AdminDSN(), "://") {
		t.Fatalf("the cluster tests need a key=value %s, not a URL", pgtest.EnvDSN)
	}
	return net.JoinHostPort(host, port)
}

func (r *pgRelay) port() string {
	return fmt.Sprint(r.ln.Addr().(*net.TCPAddr).Port)
}

func (r *pgRelay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[c] = true
		cut := r.cut
		r.mu.Unlock()
		if cut {
			continue // held open, never relayed
		}
		go r.relay(c)
	}
}

func (r *pgRelay) relay(c net.Conn) {
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		r.drop(c)
		return
	}
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		_ = up.Close()
		return
	}
	r.conns[up] = true
	r.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, c)
		r.drop(up)
		r.drop(c)
	}()
	_, _ = io.Copy(c, up)
	r.drop(c)
	r.drop(up)
}

func (r *pgRelay) drop(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	_ = c.Close()
}

func (r *pgRelay) closeAll() {
	r.mu.Lock()
	conns := r.conns
	r.conns = map[net.Conn]bool{}
	r.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Cut cuts the server off from PostgreSQL.
func (r *pgRelay) Cut() {
	r.mu.Lock()
	r.cut = true
	r.mu.Unlock()
	r.closeAll()
}

// Restore lets the server reach PostgreSQL again.
func (r *pgRelay) Restore() {
	r.mu.Lock()
	r.cut = false
	r.mu.Unlock()
	// Connections accepted while cut were never relayed: close them, the
	// server opens new ones.
	r.closeAll()
}
