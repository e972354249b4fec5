package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// The tests of this file run `quantixd server` and `quantixd agent` as
// separate processes, the agents driving libvirt's test driver
// (test:///default, inside the plugin process) so that they need no
// libvirtd and leave nothing on the host.

// mtlsPrefix starts the node names of these tests.
const mtlsPrefix = "qx-mtls-"

// requireDaemon fails the test when quantixd and its libvirt plugin cannot
// be had.
func requireDaemon(t testing.TB) {
	t.Helper()
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd and the libvirt plugin are needed: %v", e2e.daemonErr)
	}
}

// writeMTLSConfig writes the config file of a test daemon whose data_dir
// is dir, with extra HCL, the libvirt plugin on the test driver.
func writeMTLSConfig(t testing.TB, dir, extra string) string {
	t.Helper()
	images := filepath.Join(dir, "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
%s
plugin "libvirt" {
  config {
    uri       = "test:///default"
    image_dir = %q
  }
}
`, dir, extra, images)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// agentHCL is the agent block of the test agents.
const agentHCL = `agent {
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}`

// startMTLSServer starts `quantixd server` on a fresh data_dir with extra
// HCL.
func startMTLSServer(t *testing.T, extra string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	return startDaemon(t, append([]string{"server", "-config", writeMTLSConfig(t, dir, extra), "-data-dir", dir}, args...)...)
}

// mtlsAgent is a `quantixd agent` process and its data_dir.
type mtlsAgent struct {
	*proc
	dir string
}

// startMTLSAgent starts `quantixd agent` for node on a fresh data_dir (or
// dir, when given), dialling server with token, under wrap (nil: none).
func startMTLSAgent(t *testing.T, wrap []string, server, node, token, dir string) *mtlsAgent {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	args := []string{"agent", "-config", writeMTLSConfig(t, dir, agentHCL), "-data-dir", dir, "-servers", server, "-node-name", node}
	if token != "" {
		args = append(args, "-join-token", token)
	}
	return &mtlsAgent{proc: spawnIn(t, wrap, args...), dir: dir}
}

// joinToken creates a join token over the API: its id and text.
func joinToken(t *testing.T, s *proc, body string) (string, string) {
	t.Helper()
	r := s.must(t, http.StatusCreated, "POST", "/api/join-tokens", body)
	id, text := r.str("id"), r.str("token")
	if id == "" || !strings.HasPrefix(text, "qxjoin."+id+".") {
		t.Fatalf("join token reply: %s", r.raw)
	}
	return id, text
}

// nodeNames lists the names of the inventory's nodes.
func nodeNames(t *testing.T, s *proc) []string {
	t.Helper()
	var names []string
	for _, n := range s.must(t, http.StatusOK, "GET", "/api/nodes", "").body["nodes"].([]any) {
		names = append(names, n.(map[string]any)["name"].(string))
	}
	return names
}

// status sends a request without a body and returns the reply's status.
func (p *proc) status(t *testing.T, method, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// count counts the lines of the process's log containing text.
func (p *proc) count(text string) int {
	b, _ := os.ReadFile(p.log)
	return strings.Count(string(b), text)
}

// TestAgentJoinTokenRefusals: wrong, used-up, revoked and expired join
// tokens are refused, the agent's log and the server's saying why and the
// agent's naming the fix; none registers a node. A good token enrolls the
// agent, which keeps its key and certificate (0600) and connects with them
// only from then on.
func TestAgentJoinTokenRefusals(t *testing.T) {
	requireDaemon(t)
	s := startMTLSServer(t, "")
	// A token that expires within the test, made first so that it has
	// expired by the time the others are done.
	_, expiring := joinToken(t, s, `{"ttl":"1m"}`)
	expiresAt := time.Now().Add(time.Minute)

	_, once := joinToken(t, s, `{"uses":1}`)
	good := startMTLSAgent(t, nil, s.rpc, mtlsPrefix+"good", once, "")
	s.waitNode(t, mtlsPrefix+"good", 30*time.Second, "READY")
	for _, f := range []string{nodecert.KeyFile, nodecert.CertFile, nodecert.CAFile} {
		fi, err := os.Stat(filepath.Join(good.dir, "agent", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("agent's %s: %v (mode %v); want mode 0600", f, err, fi.Mode().Perm())
		}
	}

	refused := func(name, token, why string) {
		t.Helper()
		before := s.count("enrollment refused: join token not accepted")
		a := startMTLSAgent(t, nil, s.rpc, name, token, "")
		a.waitLog(t, 30*time.Second, "join token refused")
		a.waitLog(t, 5*time.Second, why)
		a.waitLog(t, 5*time.Second, "quantix node token create")
		wait.Until(t, 5*time.Second, "the server to log the refusal", func() bool {
			return s.count("enrollment refused: join token not accepted") > before
		})
		if _, err := os.Stat(filepath.Join(a.dir, "agent", nodecert.CertFile)); err == nil {
			t.Errorf("%s: a refused agent has a certificate", name)
		}
		a.stop(t)
	}
	parts := strings.Split(once, ".")
	parts[2] = strings.Repeat("a", len(parts[2]))
	refused(mtlsPrefix+"wrong", strings.Join(parts, "."), "has the wrong secret")
	refused(mtlsPrefix+"usedup", once, "is used up")
	revokedID, revoked := joinToken(t, s, `{}`)
	if st := s.status(t, "DELETE", "/api/join-tokens/"+revokedID); st != http.StatusNoContent {
		t.Fatalf("revoking the join token: status %d", st)
	}
	refused(mtlsPrefix+"revoked", revoked, "was revoked")
	wait.Until(t, 90*time.Second, "the one-minute token to expire", func() bool { return time.Now().After(expiresAt.Add(time.Second)) })
	refused(mtlsPrefix+"expired", expiring, "expired at")

	if names := nodeNames(t, s); len(names) != 1 || names[0] != mtlsPrefix+"good" {
		t.Errorf("nodes %v; want the enrolled agent's only", names)
	}

	// Restarted, the good agent connects with its certificate: its token
	// is used up and not needed any more.
	good.stop(t)
	again := startMTLSAgent(t, nil, s.rpc, mtlsPrefix+"good", "", good.dir)
	again.waitLog(t, 30*time.Second, "session attached")
	if again.logHas("node enrolled") {
		t.Error("the restarted agent enrolled again")
	}
	s.waitNode(t, mtlsPrefix+"good", 30*time.Second, "READY")
	again.stop(t)
	s.stop(t)
}

// TestAgentNodeNameTaken: a second host enrolling under the name of a node
// that has a certificate is refused, both logs naming `quantix node
// remove`, and the node's own agent keeps its session.
func TestAgentNodeNameTaken(t *testing.T) {
	requireDaemon(t)
	s := startMTLSServer(t, "")
	node := mtlsPrefix + "n1"
	tokID, tok := joinToken(t, s, `{"uses":2}`)
	real := startMTLSAgent(t, nil, s.rpc, node, tok, "")
	s.waitNode(t, node, 30*time.Second, "READY")
	real.waitLog(t, 10*time.Second, "session attached")

	intruder := startMTLSAgent(t, nil, s.rpc, node, tok, "")
	want := fmt.Sprintf("node %s already has a certificate; remove it with quantix node remove %s", node, node)
	intruder.waitLog(t, 30*time.Second, want)
	intruder.waitLog(t, 5*time.Second, "remove that node or set another agent.node_name")
	s.waitLog(t, 5*time.Second, "enrollment refused: the node already has a certificate")
	intruder.stop(t)
	// The refused claim used none of the token's uses.
	for _, jt := range s.must(t, http.StatusOK, "GET", "/api/join-tokens", "").body["join_tokens"].([]any) {
		if m := jt.(map[string]any); m["id"] == tokID && m["used"] != 1.0 {
			t.Errorf("join token used %v times; want once, by the real node", m["used"])
		}
	}

	// The real node is untouched: one session, still READY, its agent
	// still heartbeating.
	if n := real.count("session attached"); n != 1 {
		t.Errorf("the real agent attached %d sessions; want 1", n)
	}
	s.waitNode(t, node, 5*time.Second, "READY")
	if n := s.count("agent registered"); n != 1 {
		t.Errorf("%d registrations; want the real agent's only", n)
	}
	if names := nodeNames(t, s); len(names) != 1 {
		t.Errorf("nodes %v; want one", names)
	}
	real.stop(t)
	s.stop(t)
}

// TestAgentRenewsAcrossProcesses: with three-second certificates the agent
// renews its certificate over its session again and again, keeping the
// newest; the session goes on.
func TestAgentRenewsAcrossProcesses(t *testing.T) {
	requireDaemon(t)
	s := startMTLSServer(t, "server {\n  agent_cert_ttl = \"3s\"\n}\n")
	node := mtlsPrefix + "renew"
	_, tok := joinToken(t, s, `{}`)
	a := startMTLSAgent(t, nil, s.rpc, node, tok, "")
	s.waitNode(t, node, 30*time.Second, "READY")
	wait.Until(t, 20*time.Second, "three renewals", func() bool { return a.count("node certificate renewed") >= 3 })
	if n := a.count("session attached"); n != 1 {
		t.Errorf("%d sessions attached while renewing; want 1", n)
	}
	if n := s.count("node certificate renewed"); n < 3 {
		t.Errorf("the server renewed %d certificates; want at least 3", n)
	}
	s.waitNode(t, node, 5*time.Second, "READY")
	// The certificate kept is a renewed one, valid now though the first
	// expired long ago.
	wait.UntilNil(t, 5*time.Second, "a valid certificate kept", func() error {
		_, err := nodecert.Load(filepath.Join(a.dir, "agent"))
		return err
	})
	a.stop(t)
	s.stop(t)
}

// TestAgentPlaintextRefused: the agent port speaks TLS only: a plaintext
// gRPC client and a plain HTTP request get nothing but a failed handshake.
func TestAgentPlaintextRefused(t *testing.T) {
	requireDaemon(t)
	s := startMTLSServer(t, "")
	conn, err := grpc.NewClient(s.rpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = agentv1.NewAgentServiceClient(conn).Register(ctx, &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, NodeName: mtlsPrefix + "plain"})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext Register: %v; want the connection refused", err)
	}
	c, err := net.DialTimeout("tcp", s.rpc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if strings.Contains(string(buf[:n]), "HTTP/") {
		t.Errorf("a plain HTTP request got an HTTP answer: %q", buf[:n])
	}
	if names := nodeNames(t, s); len(names) != 0 {
		t.Errorf("nodes %v after plaintext attempts", names)
	}
	s.stop(t)
}

// TestAgentAcrossNetworkNamespaces: the agent runs in a network namespace
// of its own, reaching the server over a veth pair, not loopback: it
// enrolls, registers with its own address, and a revoked certificate ends
// its session at once and keeps it out.
func TestAgentAcrossNetworkNamespaces(t *testing.T) {
	requireDaemon(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: making network namespaces and veth pairs needs root; run the test as root")
	}
	ns, hostIP, agentIP := netnsPair(t)
	s := startMTLSServer(t, "", "-rpc-addr", net.JoinHostPort(hostIP, fmt.Sprint(freePort(t, hostIP))))
	node := mtlsPrefix + "netns"
	_, tok := joinToken(t, s, `{}`)
	a := startMTLSAgent(t, []string{"ip", "netns", "exec", ns}, s.rpc, node, tok, "")
	s.waitNode(t, node, 30*time.Second, "READY")
	var addr string
	for _, n := range s.must(t, http.StatusOK, "GET", "/api/nodes", "").body["nodes"].([]any) {
		if m := n.(map[string]any); m["name"] == node {
			addr, _ = m["address"].(string)
		}
	}
	if addr != agentIP {
		t.Errorf("node address %q; want the agent's veth address %s", addr, agentIP)
	}

	// The node removed: its certificate is revoked and its session ends;
	// the agent is refused from then on.
	s.must(t, http.StatusOK, "DELETE", "/api/nodes/"+node+"?force=true", "")
	s.waitLog(t, 10*time.Second, "session ended")
	a.waitLog(t, 10*time.Second, "the node was removed from the inventory and its certificates revoked")
	a.waitLog(t, 10*time.Second, "is revoked (the node was removed): remove the agent's node.crt and node.key")
	s.waitLog(t, 5*time.Second, "agent refused: its certificate is revoked")
	wait.Stays(t, 2*time.Second, "the removed node to stay away", func() bool {
		for _, n := range nodeNames(t, s) {
			if n == node {
				return false
			}
		}
		return true
	})
	a.stop(t)
	s.stop(t)
}

// netnsPair makes a network namespace and a veth pair between it and the
// test's namespace, with addresses of a /30 of 10.213.0.0/16: the
// namespace's name, the host side's address and the namespace side's. All
// of it is removed when the test ends.
func netnsPair(t *testing.T) (ns, hostIP, nsIP string) {
	t.Helper()
	suffix := testid.Hex(3)
	ns, hostIf, nsIf := "qxmtls-"+suffix, "qxh"+suffix, "qxn"+suffix
	n, err := strconv.ParseUint(suffix[:4], 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	third, fourth := n>>8%250, n&0xff/4*4
	hostIP, nsIP = fmt.Sprintf("10.213.%d.%d", third, fourth+1), fmt.Sprintf("10.213.%d.%d", third, fourth+2)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("removing network namespace %s: %v: %s", ns, err, out)
		}
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() {
		// Gone with the namespace's end of the pair, usually.
		if err := exec.Command("ip", "link", "show", hostIf).Run(); err == nil {
			_ = exec.Command("ip", "link", "del", hostIf).Run()
		}
	})
	run("link", "set", nsIf, "netns", ns)
	run("addr", "add", hostIP+"/30", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("netns", "exec", ns, "ip", "addr", "add", nsIP+"/30", "dev", nsIf)
	run("netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run("netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns, hostIP, nsIP
}

// freePort returns a TCP port free on ip right now.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAgentStaticToken: the static server.join_token enrolls an agent that
// knows the CA by its fingerprint; without a fingerprint or CA the agent
// does not start, its error naming both keys.
func TestAgentStaticToken(t *testing.T) {
	requireDaemon(t)
	dir := t.TempDir()
	static := "static-" + testid.Hex(8)
	s := startDaemon(t, "server", "-config", writeMTLSConfig(t, dir, fmt.Sprintf("server {\n  join_token = %q\n}\n", static)), "-data-dir", dir)
	ca, err := nodecert.ReadCAFile(filepath.Join(dir, "pki", "agents", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	blind := startMTLSAgent(t, nil, s.rpc, mtlsPrefix+"blind", static, "")
	select {
	case <-blind.done:
	case <-time.After(30 * time.Second):
		t.Fatal("an agent with the static token and no CA kept running")
	}
	for _, want := range []string{"agent.ca_fingerprint", "agent.ca_cert"} {
		if !blind.logHas(want) {
			t.Errorf("the agent's error does not name %s", want)
		}
	}

	node := mtlsPrefix + "static"
	fp := strings.ToUpper(nodecert.Fingerprint(ca))
	a := startMTLSAgent(t, []string{"env", "QUANTIX_AGENT_CA_FINGERPRINT=" + fp}, s.rpc, node, static, "")
	s.waitNode(t, node, 30*time.Second, "READY")
	s.waitLog(t, 5*time.Second, "static join token redeemed")
	a.stop(t)
	s.stop(t)
}
