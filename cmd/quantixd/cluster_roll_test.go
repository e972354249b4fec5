package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// rollClient is a client behind a load balancer: it sends each request to
// the next server in turn and, when that fails (no answer, or a 5xx),
// once more to the server after it.
type rollClient struct {
	t     *testing.T
	urls  []string
	token string
	http  *http.Client
	run   string

	mu   sync.Mutex
	next int
	// sent counts requests, retried those sent twice, failed those that
	// failed twice, with what the client saw.
	sent, retried int
	failed        []string
	// audited are the correlation ids of audited attempts that got an
	// answer: each has one audit entry. uiLines are the UI log lines whose
	// post was answered 200.
	audited []string
	uiLines []string
	seq     int
}

// attempt sends one request to url+path and reads the reply.
func (c *rollClient) attempt(base, method, path, body, corr string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if corr != "" {
		req.Header.Set("X-Correlation-Id", corr)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// do sends a request as a client behind a load balancer would and
// returns the final status and reply ("" and 0 when both attempts failed).
// ok says which answers count as success.
func (c *rollClient) do(method, path, body string, ok func(int) bool) (int, string) {
	c.mu.Lock()
	first := c.next
	c.next = (c.next + 1) % len(c.urls)
	c.seq++
	n := c.seq
	c.sent++
	c.mu.Unlock()
	var seen []string
	for try := 0; try < 2; try++ {
		base := c.urls[(first+try)%len(c.urls)]
		corr := ""
		// Mutating routes are audited, POST /api/logs/ui aside.
		if method != http.MethodGet && !strings.HasPrefix(path, "/api/logs/") {
			corr = fmt.Sprintf("%s-%d-%d", c.run, n, try)
		}
		status, raw, err := c.attempt(base, method, path, body, corr)
		if corr != "" && status != 0 {
			c.mu.Lock()
			c.audited = append(c.audited, corr)
			c.mu.Unlock()
		}
		if err == nil && ok(status) {
			return status, raw
		}
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", base, err))
		} else {
			if len(raw) > 200 {
				raw = raw[:200] + "…"
			}
			seen = append(seen, fmt.Sprintf("%s: %d %s", base, status, raw))
		}
		if try == 0 {
			c.mu.Lock()
			c.retried++
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, fmt.Sprintf("%s %s %s: %s", time.Now().Format("15:04:05.000"), method, path, strings.Join(seen, "; ")))
	return 0, ""
}

func is2xx(s int) bool { return s >= 200 && s < 300 }

// loop sends reads, VM actions and UI log lines until stop closes.
func (c *rollClient) loop(stop <-chan struct{}, vmName string) {
	running := false
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		switch i % 5 {
		case 0:
			c.do("GET", "/api/vms", "", is2xx)
		case 1:
			c.do("GET", "/api/vms/"+vmName, "", is2xx)
		case 2:
			c.do("GET", "/api/events?latest=20", "", is2xx)
		case 3:
			// A start or a stop; a retry after an attempt that may have
			// been carried out finds the VM in the state it asked for.
			want, path := "RUNNING", "/api/vms/"+vmName+"/start"
			if running {
				want, path = "STOPPED", "/api/vms/"+vmName+"/stop?force=true"
			}
			st, _ := c.do("POST", path, "", func(s int) bool { return is2xx(s) || s == http.StatusConflict })
			if st == http.StatusConflict {
				if st, raw := c.do("GET", "/api/vms/"+vmName, "", is2xx); st != 0 && !strings.Contains(raw, `"state":"`+want+`"`) {
					c.mu.Lock()
					c.failed = append(c.failed, fmt.Sprintf("POST %s answered 409 and the VM is not %s: %s", path, want, raw))
					c.mu.Unlock()
				}
			}
			if st != 0 {
				running = !running
			}
		case 4:
			c.mu.Lock()
			line := fmt.Sprintf("%s ui line %d", c.run, c.seq)
			c.mu.Unlock()
			if st, _ := c.do("POST", "/api/logs/ui", `{"logs":[{"message":"`+line+`","action":"click"}]}`, is2xx); st != 0 {
				c.mu.Lock()
				c.uiLines = append(c.uiLines, line)
				c.mu.Unlock()
			}
		}
	}
}

// allLogs reads every log entry of GET /api/logs?<query> through p,
// page by page.
func allLogs(t *testing.T, p *proc, query string) []map[string]any {
	t.Helper()
	var out []map[string]any
	cursor := ""
	for {
		q := query + "&limit=1000"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := p.must(t, http.StatusOK, "GET", "/api/logs?"+q, "")
		for _, e := range r.body["logs"].([]any) {
			out = append(out, e.(map[string]any))
		}
		cursor = r.str("next_cursor")
		if more, _ := r.body["has_more"].(bool); !more || cursor == "" {
			return out
		}
	}
}

// TestClusterRollingRestart: three servers on PostgreSQL and an agent
// on the simulated backend listing all three. Under steady API traffic (a
// client sending reads, starts and stops of a VM, and UI log lines to
// the servers in turn, retrying a failed request once on the next server),
// each server in turn is stopped with SIGTERM and started again on the
// same addresses with the same config. No request fails after its retry;
// every UI log line acknowledged and every audit entry of an answered
// mutating request is in GET /api/logs afterwards, exactly once.
func TestClusterRollingRestart(t *testing.T) {
	c := startFwdCluster(t, 3)
	c.startAgent(t, "qx-roll-1")
	c.nodeID(t, "qx-roll-1", 30*time.Second)
	vmName := "qx-roll-vm"
	c.Servers[0].must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vmName+`","vcpus":1,"memory_mib":64}`)

	cl := &rollClient{t: t, token: c.Servers[0].token, http: &http.Client{Timeout: 30 * time.Second},
		run: fmt.Sprintf("roll%d", time.Now().UnixNano()%1e9)}
	for _, s := range c.Servers {
		cl.urls = append(cl.urls, s.url)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.loop(stop, vmName)
	}()
	// The traffic runs for a while before, between and after the restarts.
	progress := func(what string, n int) {
		cl.mu.Lock()
		base := cl.sent
		cl.mu.Unlock()
		wait.Until(t, 30*time.Second, what, func() bool {
			cl.mu.Lock()
			defer cl.mu.Unlock()
			return cl.sent >= base+n
		})
	}
	progress("traffic before the roll", 50)
	began := time.Now()
	for _, s := range c.Servers {
		stopped := time.Now()
		s.stop(t)
		t.Logf("%s: SIGTERM at %s, exited at %s", s.Name, stopped.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
		c.restartAt(t, s)
		c.Leader(15*time.Second, 0)
		c.nodeID(t, "qx-roll-1", 30*time.Second)
		progress("traffic after restarting "+s.Name, 50)
		t.Logf("%s restarted, %s into the roll", s.Name, time.Since(began).Round(time.Millisecond))
	}
	close(stop)
	<-done

	cl.mu.Lock()
	defer cl.mu.Unlock()
	t.Logf("%d requests, %d retried once, %d failed after the retry; %d UI log lines and %d audited attempts",
		cl.sent, cl.retried, len(cl.failed), len(cl.uiLines), len(cl.audited))
	// VM actions included: a stopping server hands its agent over before
	// it drains, and an action finding the node between two sessions
	// waits for the next one.
	for _, f := range cl.failed {
		t.Errorf("failed after a retry: %s", f)
	}

	check := func(what, whats string, want []string, key func(map[string]any) string, entries func() []map[string]any) {
		t.Helper()
		var counts map[string]int
		wait.UntilNil(t, 20*time.Second, "every "+what+" stored", func() error {
			counts = map[string]int{}
			for _, e := range entries() {
				counts[key(e)]++
			}
			for _, w := range want {
				if counts[w] == 0 {
					return fmt.Errorf("%s %q is not in GET /api/logs", what, w)
				}
			}
			return nil
		})
		for _, w := range want {
			if counts[w] != 1 {
				t.Errorf("%s %q is %d times in GET /api/logs, want once", what, w, counts[w])
			}
		}
		t.Logf("%d %s posted during the roll, each found once", len(want), whats)
	}
	p := c.Servers[0].proc
	check("UI log line", "UI log lines", cl.uiLines, func(e map[string]any) string { m, _ := e["message"].(string); return m },
		func() []map[string]any { return allLogs(t, p, "source=ui&search="+url.QueryEscape(cl.run)) })
	check("audit entry", "audit entries", cl.audited, func(e map[string]any) string { m, _ := e["correlation_id"].(string); return m },
		func() []map[string]any { return allLogs(t, p, "source=audit&search="+url.QueryEscape("/api/")) })
}
