package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// TestClusterForwardOnceAfterHolderKill: a power action through server A
// for a node whose session server B holds is forwarded to B, reaches the
// agent (whose simulated backend takes 2 s per call), and B is killed -9
// before the reply comes back. A cannot tell whether the agent got it; the
// agent moves to another server and A sends the command again there, with
// the same request id: the agent answers it with the reply of the run
// already going, so the start runs once on the host and the request
// succeeds. Then the same with the next holder stopped with SIGTERM
// while a forwarded stop runs: it hands the session over at once, and the
// stop runs once and answers.
func TestClusterForwardOnceAfterHolderKill(t *testing.T) {
	c := startFwdCluster(t, 3)
	token := c.Servers[0].must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`).str("token")
	var servers []string
	for _, s := range c.Servers {
		servers = append(servers, s.rpc)
	}
	dir := t.TempDir()
	agent := spawn(t, "agent", "-config", writeAgentConfigSim(t, dir, c.pluginDir, `    latency = "2s"`), "-data-dir", dir,
		"-servers", strings.Join(servers, ","), "-node-name", "qx-once", "-join-token", token)
	nodeID := c.nodeID(t, "qx-once", 60*time.Second)
	holder, _ := c.holder(t, nodeID)
	if holder == nil {
		t.Fatal("no live server holds the node's session")
	}
	var via *clusterServer
	for _, s := range c.live() {
		if s != holder {
			via = s
			break
		}
	}
	vm := "qx-once-vm"
	via.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vm+`","vcpus":1,"memory_mib":64}`)
	id := via.must(t, http.StatusOK, "GET", "/api/vms/"+vm, "").str("id")
	runs := func() int { return agent.count(`running a request: request=`) }
	// started counts the runs of a start of the vm on the agent.
	started := func() int {
		return strings.Count(grepLines(agentLog(t, agent), "running a request: "), "op=OP_START vm="+id)
	}
	stops := func() int {
		return strings.Count(grepLines(agentLog(t, agent), "running a request: "), "op=OP_STOP vm="+id)
	}
	before := runs()

	done := sendAsync(via, "POST", "/api/vms/"+vm+"/start")
	wait.Until(t, 10*time.Second, "the start forwarded through "+holder.Name+" to run on the agent", func() bool {
		return runs() > before && started() > 0
	})
	killed := time.Now()
	holder.Kill(t)
	var a asyncAnswer
	select {
	case a = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the start through " + via.Name + " did not answer within 60s of the holder's kill")
	}
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, `"state":"RUNNING"`) {
		t.Fatalf("the start through %s after the holder's kill: %d %v: %s; want 200 and the vm RUNNING", via.Name, a.status, a.err, a.body)
	}
	now, _ := c.holder(t, nodeID)
	t.Logf("the start through %s answered %s after %s was killed -9; the node's session is on %v", via.Name, time.Since(killed).Round(time.Millisecond), holder.Name, serverNameOf(now))
	if n := agent.count("command repeating a request answered with the reply of its run"); n != 1 {
		t.Errorf("the agent answered %d commands repeating a request from its run, want 1 (the start sent again)", n)
	}
	if n := started(); n != 1 {
		t.Errorf("the agent ran the start of %s %d times, want once:\n%s", vm, n, grepLines(agentLog(t, agent), "op=OP_START"))
	}
	// The next action through every live server works.
	for _, s := range c.live() {
		wait.UntilNil(t, 10*time.Second, fmt.Sprintf("a stop and start through %s", s.Name), func() error {
			if r := s.call(t, "POST", "/api/vms/"+vm+"/stop?force=true", ""); r.status != http.StatusOK {
				return fmt.Errorf("stop: %d %s", r.status, r.raw)
			}
			if r := s.call(t, "POST", "/api/vms/"+vm+"/start", ""); r.status != http.StatusOK {
				return fmt.Errorf("start: %d %s", r.status, r.raw)
			}
			return nil
		})
	}

	// SIGTERM of the holder while a forwarded stop runs on the agent: the
	// holder hands the session over at once (the agent remembers
	// requests), and the stop, sent again through the node's next
	// session, runs once and answers.
	holder, _ = c.holder(t, nodeID)
	if holder == nil {
		t.Fatal("no live server holds the node's session")
	}
	for _, s := range c.live() {
		if s != holder {
			via = s
			break
		}
	}
	before, stopsBefore, repeated := runs(), stops(), agent.count("command repeating a request answered")
	done = sendAsync(via, "POST", "/api/vms/"+vm+"/stop?force=true")
	wait.Until(t, 10*time.Second, "the stop forwarded through "+holder.Name+" to run on the agent", func() bool {
		return runs() > before && stops() > stopsBefore
	})
	term := time.Now()
	holder.stop(t)
	exited := time.Since(term)
	select {
	case a = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the stop through " + via.Name + " did not answer within 60s of the holder's SIGTERM")
	}
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, `"state":"STOPPED"`) {
		t.Fatalf("the stop through %s during the holder's SIGTERM: %d %v: %s; want 200 and the vm STOPPED", via.Name, a.status, a.err, a.body)
	}
	handed := grepLines(agentLog(t, holder.proc), "agents handed over")
	t.Logf("SIGTERM of %s with a command in flight: exited after %s; %s; the stop through %s answered %s after the SIGTERM",
		holder.Name, exited.Round(time.Millisecond), strings.TrimSpace(handed), via.Name, time.Since(term).Round(time.Millisecond))
	if handed == "" {
		t.Errorf("the holder's log does not say it handed its agents over")
	}
	if n := stops() - stopsBefore; n != 1 {
		t.Errorf("the agent ran the stop %d times, want once", n)
	}
	if n := agent.count("command repeating a request answered") - repeated; n != 1 {
		t.Errorf("the agent answered %d commands repeating a request during the SIGTERM, want 1 (the stop sent again)", n)
	}
}

// asyncAnswer is the outcome of a request sendAsync sent.
type asyncAnswer struct {
	status int
	body   string
	err    error
}

// sendAsync sends method path to server s with its admin token, and
// gives the outcome on the channel returned.
func sendAsync(s *clusterServer, method, path string) <-chan asyncAnswer {
	ch := make(chan asyncAnswer, 1)
	go func() {
		req, err := http.NewRequest(method, s.url+path, nil)
		if err != nil {
			ch <- asyncAnswer{err: err}
			return
		}
		res, err := s.send(req)
		if err != nil {
			ch <- asyncAnswer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		ch <- asyncAnswer{status: res.StatusCode, body: string(b), err: err}
	}()
	return ch
}

func serverNameOf(s *clusterServer) string {
	if s == nil {
		return "(none)"
	}
	return s.Name
}

// agentLog is the log of process p so far.
func agentLog(t testing.TB, p *proc) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// grepLines returns the lines of text holding s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
