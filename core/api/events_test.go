package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// discovered reports foreign VMs from a registered node and returns the
// node's id.
func (e *env) discovered(t testing.TB, vms ...*backend.VM) string {
	t.Helper()
	ctx := context.Background()
	rec := e.svc.Reconciler()
	id, err := rec.Register(ctx, nodeapi.Registration{NodeName: "reporting-node", Backend: node.Backend{Name: "libvirt", Healthy: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.FullSync(ctx, id, vms); err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	foreignID = "22222222-0000-4000-8000-000000000001"
	otherID   = "22222222-0000-4000-8000-000000000002"
)

// TestAdoptAndUnmanaged: actions on a discovered VM are 409 naming why,
// reads work, adopt makes it managed.
func TestAdoptAndUnmanaged(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.discovered(t, &backend.VM{ID: foreignID, Name: "foreign", State: backend.StateRunning, Spec: backend.VMSpec{VCPUs: 2, MemoryMiB: 512}})
	r := e.do(t, "GET", "/api/vms/foreign", "")
	r.want(t, http.StatusOK, "")
	if r.str("origin") != "host-discovered" || r.body["is_managed"] != false || r.str("state") != "RUNNING" {
		t.Errorf("discovered vm: %s", r.raw)
	}
	refusal := `vm "foreign" is not managed by quantix (origin host-discovered); adopt it first`
	for _, req := range [][3]string{
		{"POST", "/api/vms/foreign/stop", ""}, {"POST", "/api/vms/foreign/start", ""}, {"POST", "/api/vms/foreign/reboot", ""},
		{"POST", "/api/vms/foreign/pause", ""}, {"POST", "/api/vms/foreign/resume", ""}, {"POST", "/api/vms/foreign/reset_state?force=true", ""},
		{"DELETE", "/api/vms/foreign?force=true", ""}, {"PATCH", "/api/vms/foreign", `{"vcpus":4}`}, {"PATCH", "/api/vms/foreign", `{"labels":{"a":"b"}}`},
	} {
		r := e.do(t, req[0], req[1], req[2])
		r.want(t, http.StatusConflict, "conflict", refusal)
	}
	r = e.do(t, "GET", "/api/vms/foreign/events", "")
	r.want(t, http.StatusOK, "")
	if evs := r.body["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["action"] != "discover" {
		t.Errorf("history of the discovered vm: %s", r.raw)
	}

	r = e.do(t, "POST", "/api/vms/foreign/adopt", "")
	r.want(t, http.StatusOK, "")
	if r.body["success"] != true || r.str("vm.origin") != "imported" || r.str("vm.desired_state") != "running" {
		t.Errorf("adopt reply: %s", r.raw)
	}
	if vmObj, _ := r.body["vm"].(map[string]any); vmObj["is_managed"] != true {
		t.Errorf("adopted vm not managed: %s", r.raw)
	}
	e.do(t, "POST", "/api/vms/foreign/adopt", "").want(t, http.StatusConflict, "conflict", "already managed by quantix (origin imported)")
	e.do(t, "PATCH", "/api/vms/foreign", `{"labels":{"a":"b"}}`).want(t, http.StatusOK, "")
	e.do(t, "POST", "/api/vms/nothing/adopt", "").want(t, http.StatusNotFound, "not_found")
}

// TestVMEventsRoute pages a VM's history through the API.
func TestVMEventsRoute(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.discovered(t, &backend.VM{ID: foreignID, Name: "paged", State: backend.StateRunning})
	e.do(t, "POST", "/api/vms/paged/adopt", "").want(t, http.StatusOK, "")
	for i := range 3 {
		e.do(t, "PATCH", "/api/vms/paged", fmt.Sprintf(`{"description":"v%d"}`, i)).want(t, http.StatusOK, "")
	}
	var actions []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		r := e.do(t, "GET", "/api/vms/paged/events?limit=2&cursor="+cursor, "")
		r.want(t, http.StatusOK, "")
		if r.str("vm_id") != foreignID {
			t.Errorf("vm_id %q", r.str("vm_id"))
		}
		for _, ev := range r.body["events"].([]any) {
			m := ev.(map[string]any)
			for _, k := range []string{"id", "vm_id", "time", "action", "old_state", "new_state", "cause", "message"} {
				if _, ok := m[k]; !ok {
					t.Errorf("event lacks %q: %v", k, m)
				}
			}
			actions = append(actions, fmt.Sprintf("%s/%s/%s→%s", m["action"], m["cause"], m["old_state"], m["new_state"]))
		}
		if cursor = r.str("next_cursor"); cursor == "" {
			break
		}
	}
	want := []string{"discover/host/→RUNNING", "adopt/api/RUNNING→RUNNING", "edit/api/RUNNING→RUNNING", "edit/api/RUNNING→RUNNING", "edit/api/RUNNING→RUNNING"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("history %v, want %v", actions, want)
	}
	e.do(t, "GET", "/api/vms/paged/events?cursor=abc", "").want(t, http.StatusBadRequest, "bad_request", "cursor")
	e.do(t, "GET", "/api/vms/paged/events?limit=0", "").want(t, http.StatusBadRequest, "bad_request", "limit")
	e.do(t, "GET", "/api/vms/none/events", "").want(t, http.StatusNotFound, "not_found")
}

// TestNodesRoute: nodes show state, last heartbeat, VM count and backend
// health.
func TestNodesRoute(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "one")
	e.create(t, "two")
	id := e.discovered(t, &backend.VM{ID: foreignID, Name: "x", State: backend.StateRunning}, &backend.VM{ID: otherID, Name: "y", State: backend.StateStopped})
	r := e.do(t, "GET", "/api/nodes", "")
	r.want(t, http.StatusOK, "")
	byName := map[string]map[string]any{}
	for _, n := range r.body["nodes"].([]any) {
		m := n.(map[string]any)
		byName[m["name"].(string)] = m
	}
	local, reporting := byName["api-test"], byName["reporting-node"]
	if local["state"] != "READY" || local["vm_count"] != 2.0 || local["connected"] != true || local["last_heartbeat"] == nil ||
		local["backend"].(map[string]any)["healthy"] != true {
		t.Errorf("local node: %v", local)
	}
	// The reporting node has no agent taking commands here: UNREACHABLE.
	if reporting["vm_count"] != 2.0 || reporting["state"] != "UNREACHABLE" || reporting["connected"] != false || reporting["id"] != id {
		t.Errorf("reporting node: %v", reporting)
	}
	one := e.do(t, "GET", "/api/nodes/reporting-node", "")
	one.want(t, http.StatusOK, "")
	if one.body["vm_count"] != 2.0 || one.str("id") != id {
		t.Errorf("GET /api/nodes/reporting-node: %s", one.raw)
	}
}

// sseFrame is one server-sent event as a client reads it.
type sseMsg struct {
	id, event, data string
	comment         string
}

// sseReader reads server-sent events.
type sseReader struct{ r *bufio.Reader }

func (s sseReader) read() (sseMsg, error) {
	var m sseMsg
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return m, fmt.Errorf("reading the event stream: %w", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			return m, nil
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			m.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.data = line[6:]
		default:
			return m, fmt.Errorf("unexpected line %q", line)
		}
	}
}

func (s sseReader) next(t testing.TB) sseMsg {
	t.Helper()
	m, err := s.read()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// nextEvent skips comments.
func (s sseReader) nextEvent(t testing.TB) sseMsg {
	t.Helper()
	for {
		if m := s.next(t); m.comment == "" {
			return m
		}
	}
}

// openStream GETs /api/events with the given query and header,
// authenticating with c.
func openStream(t testing.TB, c cred, base, query string, header http.Header) (sseReader, func()) {
	t.Helper()
	// A stream that stops delivering fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.apply(req)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/events%s: %d %s", query, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return sseReader{bufio.NewReader(res.Body)}, func() { cancel(); _ = res.Body.Close() }
}

// TestEventsSSE: the stream carries VM and node changes with ids, resumes
// after since or Last-Event-ID, and keeps idle connections alive.
func TestEventsSSE(t *testing.T) {
	e := newEnvWith(t, "sqlite", false, controlplane.ReconcilerOptions{}, 30*time.Millisecond)
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	stream, stop := openStream(t, cred{token: e.token}, srv.URL, "", nil)
	defer stop()
	if m := stream.next(t); m.comment != "connected" {
		t.Fatalf("first frame %+v", m)
	}

	nodeID := e.discovered(t, &backend.VM{ID: foreignID, Name: "seen", State: backend.StateRunning})
	m := stream.nextEvent(t)
	var nodeEv map[string]any
	if err := json.Unmarshal([]byte(m.data), &nodeEv); err != nil || m.event != "node" || nodeEv["node_id"] != nodeID || nodeEv["action"] != "register" || nodeEv["id"] != m.id {
		t.Fatalf("first event %+v (%v)", m, err)
	}
	first := stream.nextEvent(t)
	var vmEv map[string]any
	if err := json.Unmarshal([]byte(first.data), &vmEv); err != nil {
		t.Fatal(err)
	}
	if first.event != "vm" || vmEv["vm_id"] != foreignID || vmEv["action"] != "discover" || vmEv["new_state"] != "RUNNING" ||
		vmEv["cause"] != "host" || first.id != fmt.Sprint(vmEv["event_id"]) {
		t.Fatalf("discovery event %+v", first)
	}
	e.do(t, "POST", "/api/vms/seen/adopt", "").want(t, http.StatusOK, "")
	second := stream.nextEvent(t)
	if second.event != "vm" || !strings.Contains(second.data, `"action":"adopt"`) {
		t.Fatalf("adopt event %+v", second)
	}
	// Idle: keep-alive comments.
	if m := stream.next(t); m.comment != "keep-alive" {
		t.Errorf("idle stream sent %+v, want a keep-alive comment", m)
	}

	// Resume after the first VM event: the adopt event comes again.
	resumed, stop2 := openStream(t, cred{token: e.token}, srv.URL, "?since="+first.id, nil)
	defer stop2()
	if m := resumed.nextEvent(t); m.id != second.id {
		t.Errorf("resumed after %s: got %+v, want %s", first.id, m, second.id)
	}
	// Last-Event-ID, as a reconnecting browser sends it, wins over since.
	h := http.Header{"Last-Event-Id": []string{second.id}}
	after, stop3 := openStream(t, cred{token: e.token}, srv.URL, "?since="+first.id, h)
	defer stop3()
	e.do(t, "PATCH", "/api/vms/seen", `{"description":"x"}`).want(t, http.StatusOK, "")
	if m := after.nextEvent(t); !strings.Contains(m.data, `"action":"edit"`) {
		t.Errorf("after Last-Event-ID %s: got %+v, want the edit", second.id, m)
	}
	e.do(t, "GET", "/api/events?since=yesterday", "").want(t, http.StatusBadRequest, "bad_request", "since")
}

// smallBuffers makes the server's socket send buffer small, so that a
// client that stops reading blocks the server's writes quickly.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestEventsSlowClient: a client that stops reading neither blocks the
// writers nor other clients; it gets a gap marker where events were
// dropped, and resuming from the marker's position fetches them.
func TestEventsSlowClient(t *testing.T) {
	ro := controlplane.ReconcilerOptions{Broker: events.NewBroker(events.BrokerOptions{SubscriberBuffer: 64})}
	e := newEnvWith(t, "sqlite", false, ro, time.Hour)
	e.discovered(t, &backend.VM{ID: foreignID, Name: "busy", State: backend.StateRunning})
	e.do(t, "POST", "/api/vms/busy/adopt", "").want(t, http.StatusOK, "")
	srv := httptest.NewUnstartedServer(e.srv)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()

	// The slow client: a raw connection with a tiny receive buffer that
	// reads nothing until the writes are done.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", bearer(e.token)); err != nil {
		t.Fatal(err)
	}
	// It reads the headers and the first comment, which the server sends
	// once the client is subscribed, then nothing until the writes are
	// done.
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	slow := sseReader{bufio.NewReader(httputil.NewChunkedReader(br))}
	if m := slow.next(t); m.comment != "connected" {
		t.Fatalf("the slow client's first frame: %+v", m)
	}
	fast, stop := openStream(t, cred{token: e.token}, srv.URL, "", nil)
	defer stop()
	fast.next(t) // connected
	const edits = 400
	fastGot := make(chan error, 1)
	go func() {
		for n := 0; n < edits; {
			m, err := fast.read()
			if err != nil {
				fastGot <- err
				return
			}
			if m.event == "gap" {
				fastGot <- fmt.Errorf("the fast client got a gap marker: %s", m.data)
				return
			}
			if strings.Contains(m.data, `"action":"edit"`) {
				n++
			}
		}
		fastGot <- nil
	}()
	start := time.Now()
	for i := range edits {
		e.do(t, "PATCH", "/api/vms/busy", fmt.Sprintf(`{"description":"d%d-%s"}`, i, strings.Repeat("x", 300))).want(t, http.StatusOK, "")
	}
	t.Logf("%d edits with a stalled client took %s", edits, time.Since(start))
	select {
	case err := <-fastGot:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fast client did not get every edit")
	}

	// Now the slow client reads: events, then a gap marker.
	var seen []string
	var gap map[string]any
	for gap == nil {
		m := slow.nextEvent(t)
		if m.event != "gap" {
			seen = append(seen, m.id)
			continue
		}
		if m.id != "" {
			t.Errorf("a gap marker with id %q", m.id)
		}
		if err := json.Unmarshal([]byte(m.data), &gap); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) == 0 || len(seen) >= edits || gap["dropped"].(float64) < 1 || gap["resume_since"] != seen[len(seen)-1] {
		t.Fatalf("gap %v after %d events (last %v)", gap, len(seen), seen[len(seen)-1:])
	}
	t.Logf("the slow client got %d events, then a gap of %v", len(seen), gap["dropped"])
	// Resuming from the marker's position fetches what was dropped: every
	// edit after the last one the client saw, without a gap.
	resumed, stop2 := openStream(t, cred{token: e.token}, srv.URL, "?since="+gap["resume_since"].(string), nil)
	defer stop2()
	page, err := e.svc.VMEvents(context.Background(), "busy", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprint(page.Events[len(page.Events)-1].ID)
	got := 0
	for {
		m := resumed.nextEvent(t)
		if m.event != "vm" || !strings.Contains(m.data, `"action":"edit"`) {
			t.Fatalf("resumed stream: %+v, want only edits", m)
		}
		got++
		if m.id == last {
			break
		}
	}
	if len(seen)+got != edits {
		t.Errorf("%d edits before the gap and %d resumed, want %d in all", len(seen), got, edits)
	}
}

// TestStreamOutlivesReadTimeout: a server's ReadTimeout (the daemon sets
// one for request bodies) does not end an event stream once it passes.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	e := newEnvWith(t, "sqlite", true, controlplane.ReconcilerOptions{}, time.Hour)
	srv := httptest.NewUnstartedServer(e.srv)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	stream, stop := openStream(t, cred{token: e.token}, srv.URL, "", nil)
	defer stop()
	msgs, ended := make(chan sseMsg), make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			m, err := stream.read()
			if err != nil {
				ended <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	// Time passing is what is tested: the stream stays open well past the
	// deadline, then still delivers.
	wait.Stays(t, 4*srv.Config.ReadTimeout, "the stream open past the read timeout", func() bool {
		select {
		case err := <-ended:
			t.Errorf("the stream ended after the read timeout: %v", err)
			return false
		case <-msgs:
			return true
		default:
			return true
		}
	})
	id := e.create(t, "after-the-deadline")
	for {
		select {
		case err := <-ended:
			t.Fatalf("the stream ended after the read timeout: %v", err)
		case m := <-msgs:
			if m.event == "vm" && strings.Contains(m.data, id) {
				return
			}
		}
	}
}
