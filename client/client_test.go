package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// newServer serves handler and returns a client of it.
func newServer(t *testing.T, token string, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func TestNormalizeAddress(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"127.0.0.1:9090", "http://127.0.0.1:9090", ""},
		{"https://cp.example/quantix/", "https://cp.example/quantix", ""},
		{" localhost:8080 ", "http://localhost:8080", ""},
		{"", "", "empty"},
		{"ftp://host", "", "scheme"},
		{"http://", "", "no host"},
		{"http://h:1/?x=1", "", "query"},
		{"http://[::1", "", "not a URL"},
	}
	for _, c := range cases {
		got, err := NormalizeAddress(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("NormalizeAddress(%q) = %q, %v; want an error containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		var got []string
		c := newServer(t, token, func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Values("Authorization")
			writeJSON(w, 200, `{"status":"ok","version":"quantixd test"}`)
		})
		h, err := c.Health(context.Background())
		if err != nil || h.Version != "quantixd test" {
			t.Fatalf("health: %+v %v", h, err)
		}
		want := []string(nil)
		if token != "" {
			want = []string{"Bearer " + token}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("token %q: Authorization %q, want %q", token, got, want)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		call    func(*Client) error
		code    string
		message string
		vmState string
	}{
		{"not found", 404, `{"code":"not_found","message":"vm \"x\" not found"}`,
			func(c *Client) error { _, err := c.GetVM(context.Background(), "x"); return err },
			"not_found", `vm "x" not found`, ""},
		{"refused action carries the vm", 409, `{"success":false,"code":"conflict","message":"vm \"a\" is RUNNING","vm":{"id":"1","name":"a","state":"RUNNING"}}`,
			func(c *Client) error { _, err := c.DeleteVM(context.Background(), "a", false); return err },
			"conflict", `vm "a" is RUNNING`, "RUNNING"},
		{"not the API", 502, `<html>bad gateway</html>`,
			func(c *Client) error { _, err := c.ListNodes(context.Background()); return err },
			"", "the server answered 502 Bad Gateway: <html>bad gateway</html>", ""},
		{"empty body", 500, ``,
			func(c *Client) error { _, err := c.Health(context.Background()); return err },
			"", "the server answered 500 Internal Server Error", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "req-1")
				writeJSON(w, tc.status, tc.body)
			})
			err := tc.call(c)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			if ae.StatusCode != tc.status || ae.Code != tc.code || ae.Error() != tc.message || ae.RequestID != "req-1" {
				t.Errorf("got %d %q %q %q", ae.StatusCode, ae.Code, ae.Error(), ae.RequestID)
			}
			if tc.vmState != "" && (ae.VM == nil || ae.VM.State != tc.vmState) {
				t.Errorf("the error's vm: %+v", ae.VM)
			}
			if IsNotFound(err) != (tc.status == 404) {
				t.Errorf("IsNotFound = %v", IsNotFound(err))
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	_ = ln.Close()
	c, err := New(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListVMs(context.Background(), ListVMsOptions{})
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Address != addr {
		t.Fatalf("error %v (%T), want an *UnreachableError for %s", err, err, addr)
	}
	if want := "cannot reach the quantix API at " + addr + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("message %q, want it to start with %q and say the connection was refused", err, want)
	}
}

func TestNotTheAPI(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html>hello</html>")
	})
	_, err := c.GetVM(context.Background(), "a")
	if err == nil || !strings.Contains(err.Error(), "is "+c.Address+" a quantix API?") {
		t.Fatalf("got %v", err)
	}
}

func TestAllVMsPaging(t *testing.T) {
	var queries []string
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/vms" {
			t.Errorf("path %s", r.URL.Path)
		}
		queries = append(queries, r.URL.RawQuery)
		switch r.URL.Query().Get("cursor") {
		case "":
			writeJSON(w, 200, `{"vms":[{"id":"1","name":"a","state":"RUNNING","future_field":{"x":1}},{"id":"2","name":"b"}],"next_cursor":"c2"}`)
		case "c2":
			writeJSON(w, 200, `{"vms":[{"id":"3","name":"c"}],"next_cursor":""}`)
		default:
			writeJSON(w, 400, `{"code":"bad_request","message":"cursor: bad"}`)
		}
	})
	vms, err := c.AllVMs(context.Background(), ListVMsOptions{State: "RUNNING", Labels: []string{"env=prod", "tier=web"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vms {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("names %v", names)
	}
	want := []string{"label=env%3Dprod&label=tier%3Dweb&limit=2&state=RUNNING", "cursor=c2&label=env%3Dprod&label=tier%3Dweb&limit=2&state=RUNNING"}
	if fmt.Sprint(queries) != fmt.Sprint(want) {
		t.Errorf("queries\n%q\nwant\n%q", queries, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(vms[0].Raw, &raw); err != nil || raw["future_field"] == nil {
		t.Errorf("Raw lost the field the client does not know: %s", vms[0].Raw)
	}
}

func TestAllVMsCursorLoop(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"vms":[{"id":"1"}],"next_cursor":"same"}`)
	})
	if _, err := c.AllVMs(context.Background(), ListVMsOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a cursor that repeats: %v", err)
	}
}

func TestActions(t *testing.T) {
	type call struct{ method, path, query string }
	var got []call
	var mu sync.Mutex
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, call{r.Method, r.URL.EscapedPath(), r.URL.RawQuery})
		mu.Unlock()
		writeJSON(w, 200, `{"success":true,"message":"done","vm":{"id":"1","name":"a b","state":"STOPPED"}}`)
	})
	ctx := context.Background()
	steps := []struct {
		do   func() (*ActionResult, error)
		want call
	}{
		{func() (*ActionResult, error) { return c.StartVM(ctx, "a b") }, call{"POST", "/api/vms/a%20b/start", ""}},
		{func() (*ActionResult, error) { return c.StopVM(ctx, "a", StopOptions{}) }, call{"POST", "/api/vms/a/stop", ""}},
		{func() (*ActionResult, error) {
			return c.StopVM(ctx, "a", StopOptions{Force: true, Timeout: 90 * time.Second})
		}, call{"POST", "/api/vms/a/stop", "force=true&timeout=1m30s"}},
		{func() (*ActionResult, error) { return c.RebootVM(ctx, "a") }, call{"POST", "/api/vms/a/reboot", ""}},
		{func() (*ActionResult, error) { return c.PauseVM(ctx, "a") }, call{"POST", "/api/vms/a/pause", ""}},
		{func() (*ActionResult, error) { return c.ResumeVM(ctx, "a") }, call{"POST", "/api/vms/a/resume", ""}},
		{func() (*ActionResult, error) { return c.ResetState(ctx, "a", true) }, call{"POST", "/api/vms/a/reset_state", "force=true"}},
		{func() (*ActionResult, error) { return c.AdoptVM(ctx, "a") }, call{"POST", "/api/vms/a/adopt", ""}},
		{func() (*ActionResult, error) { return c.DeleteVM(ctx, "a", false) }, call{"DELETE", "/api/vms/a", ""}},
		{func() (*ActionResult, error) { return c.DeleteVM(ctx, "a", true) }, call{"DELETE", "/api/vms/a", "force=true"}},
	}
	for i, s := range steps {
		res, err := s.do()
		if err != nil || !res.Success || res.VM == nil || res.VM.Name != "a b" || len(res.Raw) == 0 {
			t.Fatalf("step %d: %+v %v", i, res, err)
		}
		if got[i] != s.want {
			t.Errorf("step %d: %+v, want %+v", i, got[i], s.want)
		}
	}
	if _, err := c.StartVM(ctx, ""); err == nil || len(got) != len(steps) {
		t.Errorf("an empty reference was sent: %v", err)
	}
}

func TestCreateVM(t *testing.T) {
	var body map[string]any
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/vms" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		writeJSON(w, 201, `{"id":"1","name":"web","state":"STOPPED","spec":{"vcpus":2,"memory_mib":256,"disks":[{"size_gib":1,"path":"/x"}],"nics":[],"boot":[]}}`)
	})
	v, err := c.CreateVM(context.Background(), CreateVMRequest{Name: "web", VCPUs: 2, MemoryMiB: 256,
		Disks: []DiskRequest{{SizeGiB: 1}}, NICs: []NIC{{Type: "network", Source: "default"}}})
	if err != nil || v.State != "STOPPED" || v.Spec.Disks[0].Path != "/x" {
		t.Fatalf("%+v %v", v, err)
	}
	b, _ := json.Marshal(body)
	if want := `{"disks":[{"size_gib":1}],"memory_mib":256,"name":"web","nics":[{"source":"default","type":"network"}],"vcpus":2}`; string(b) != want {
		t.Errorf("body %s\nwant %s", b, want)
	}
}

func TestVMEventsPaging(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/vms/a/events" || r.URL.Query().Get("limit") != "1000" {
			t.Errorf("%s?%s", r.URL.Path, r.URL.RawQuery)
		}
		if r.URL.Query().Get("cursor") == "" {
			writeJSON(w, 200, `{"vm_id":"1","events":[{"id":1,"action":"create"}],"next_cursor":"n"}`)
			return
		}
		writeJSON(w, 200, `{"vm_id":"1","events":[{"id":2,"action":"start"}],"next_cursor":""}`)
	})
	page, err := c.AllVMEvents(context.Background(), "a")
	if err != nil || page.VMID != "1" || len(page.Events) != 2 || page.Events[1].Action != "start" {
		t.Fatalf("%+v %v", page, err)
	}
}

func TestLogsQuery(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		want := "component=vm%2Cnode&cursor=c&level=warn&limit=5&order=asc&q=boot&since=15m&source=audit&user_action=false&vm_id=v"
		if r.URL.Path != "/api/logs" || r.URL.RawQuery != want {
			t.Errorf("%s?%s, want ?%s", r.URL.Path, r.URL.RawQuery, want)
		}
		writeJSON(w, 200, `{"logs":[{"id":"e1","level":"warn","source":"audit","message":"m","fields":{"k":1}}],"next_cursor":"d","has_more":true}`)
	})
	no := false
	page, err := c.QueryLogs(context.Background(), LogQuery{
		LogFilter: LogFilter{Level: "warn", Sources: []string{"audit"}, Components: []string{"vm", "node"}, VMID: "v", UserAction: &no, Text: "boot", Since: "15m"},
		Limit:     5, Cursor: "c", Order: "asc",
	})
	if err != nil || len(page.Logs) != 1 || !page.HasMore || page.NextCursor != "d" || string(page.Logs[0].Fields) != `{"k":1}` {
		t.Fatalf("%+v %v", page, err)
	}
}

func TestExportLogs(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "xml" {
			writeJSON(w, 400, `{"code":"bad_request","message":"format: \"xml\" is not one of json, csv, txt"}`)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		_, _ = io.WriteString(w, "id,timestamp\n")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "e1,2026-01-01T00:00:00Z\n")
	})
	rc, err := c.ExportLogs(context.Background(), LogFilter{}, ExportOptions{Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || string(b) != "id,timestamp\ne1,2026-01-01T00:00:00Z\n" {
		t.Fatalf("%q %v", b, err)
	}
	if _, err := c.ExportLogs(context.Background(), LogFilter{}, ExportOptions{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `"xml" is not one of`) {
		t.Fatalf("a bad format: %v", err)
	}
}

// sseServer sends frames, then holds the stream open until the request
// ends; it reports when it saw the client go.
func sseServer(t *testing.T, frames string, gone chan<- struct{}) *Client {
	return newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, ": connected\n\n"+frames)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		if gone != nil {
			close(gone)
		}
	})
}

func TestEventStream(t *testing.T) {
	frames := "id: 2\nevent: vm\ndata: {\"kind\":\"vm\",\"id\":\"2\",\"event_id\":2,\"vm_id\":\"v\",\"action\":\"start\",\"old_state\":\"STOPPED\",\"new_state\":\"STARTING\"}\n\n" +
		": keep-alive\n\n" +
		"id: 2.1\nevent: node\ndata: {\"kind\":\"node\",\"id\":\"2.1\",\"node_name\":\"n1\",\"new_state\":\"READY\",\"backend_healthy\":true}\n\n" +
		"event: gap\ndata: {\"kind\":\"gap\",\"dropped\":3,\"resume_since\":\"2.1\",\"message\":\"slow\"}\n\n" +
		"id: 9\nevent: future\ndata: {}\n\n"
	gone := make(chan struct{})
	c := sseServer(t, frames, gone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	es, err := c.Events(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	ev, err := es.Next()
	if err != nil || ev.Kind != KindVM || ev.ID != "2" || ev.VM.EventID != 2 || ev.VM.NewState != "STARTING" {
		t.Fatalf("vm event: %+v %v", ev, err)
	}
	ev, err = es.Next()
	if err != nil || ev.Kind != KindNode || ev.ID != "2.1" || ev.Node.NodeName != "n1" || !ev.Node.BackendHealthy {
		t.Fatalf("node event: %+v %v", ev, err)
	}
	ev, err = es.Next()
	if err != nil || ev.Kind != KindGap || ev.ID != "" || ev.Gap.Dropped != 3 || ev.Gap.ResumeSince != "2.1" {
		t.Fatalf("gap: %+v %v", ev, err)
	}
	ev, err = es.Next()
	if err != nil || ev.Kind != "future" || ev.ID != "9" || string(ev.Data) != "{}" {
		t.Fatalf("an unknown kind: %+v %v", ev, err)
	}
	// Nothing more comes: cancelling ends the wait at once.
	done := make(chan error, 1)
	go func() { _, err := es.Next(); done <- err }()
	wait.Stays(t, 50*time.Millisecond, "Next to wait with nothing sent", func() bool { return len(done) == 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after the context was cancelled")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see the client go")
	}
}

func TestEventStreamEnds(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("since") == "bad" {
			writeJSON(w, 400, `{"code":"bad_request","message":"since: event id \"bad\": want a whole number, or two joined by a dot"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "id: 1\nevent: vm\ndata: {\"event_id\":1}\n\n")
	})
	es, err := c.Events(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if _, err := es.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := es.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the server ended the stream: %v, want io.EOF", err)
	}
	if _, err := c.Events(context.Background(), "bad"); err == nil || !strings.Contains(err.Error(), "since:") {
		t.Errorf("a bad since: %v", err)
	}
}

func TestEventStreamNotSSE(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{}`) })
	if _, err := c.Events(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "not an event stream") {
		t.Fatalf("got %v", err)
	}
}

func TestLogStream(t *testing.T) {
	frames := "id: e1\nevent: log\ndata: {\"id\":\"e1\",\"level\":\"info\",\"source\":\"qemu\",\"message\":\"boot\",\"vm_id\":\"v\"}\n\n" +
		"event: gap\ndata: {\"kind\":\"gap\",\"dropped\":2,\"message\":\"slow\"}\n\n"
	var query string
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = io.WriteString(w, frames)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ls, err := c.StreamLogs(ctx, LogFilter{Sources: []string{"qemu"}, VMID: "v"})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	ev, err := ls.Next()
	if err != nil || ev.Kind != KindLog || ev.Entry.Message != "boot" || ev.ID != "e1" || len(ev.Entry.Raw) == 0 {
		t.Fatalf("log: %+v %v", ev, err)
	}
	if query != "source=qemu&vm_id=v" {
		t.Errorf("query %q", query)
	}
	ev, err = ls.Next()
	if err != nil || ev.Kind != KindGap || ev.Gap.Dropped != 2 {
		t.Fatalf("gap: %+v %v", ev, err)
	}
	if err := ls.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := ls.Next(); err == nil {
		t.Error("Next after Close returned no error")
	}
}

func TestNodes(t *testing.T) {
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/nodes":
			writeJSON(w, 200, `{"nodes":[{"id":"n1","name":"host-a","state":"READY","host":{"cpus":4},"backend":{"name":"libvirt","healthy":true}}]}`)
		case "/api/nodes/host-a":
			writeJSON(w, 200, `{"id":"n1","name":"host-a","state":"READY"}`)
		default:
			writeJSON(w, 404, `{"code":"not_found","message":"node \"x\" not found"}`)
		}
	})
	ctx := context.Background()
	nodes, err := c.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Host.CPUs != 4 || !nodes[0].Backend.Healthy {
		t.Fatalf("%+v %v", nodes, err)
	}
	if n, err := c.GetNode(ctx, "host-a"); err != nil || n.ID != "n1" {
		t.Fatalf("%+v %v", n, err)
	}
	if _, err := c.GetNode(ctx, "x"); !IsNotFound(err) {
		t.Fatalf("unknown node: %v", err)
	}
}

// TestListNodesFollowsPages: ListNodes reads every page, passing each
// next_cursor on, and stops on a cursor the API returns twice.
func TestListNodesFollowsPages(t *testing.T) {
	var cursors []string
	c := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		cursors = append(cursors, r.URL.Query().Get("cursor"))
		switch r.URL.Query().Get("cursor") {
		case "":
			writeJSON(w, 200, `{"nodes":[{"id":"n1","name":"a"}],"next_cursor":"c1"}`)
		case "c1":
			writeJSON(w, 200, `{"nodes":[{"id":"n2","name":"b"}],"next_cursor":""}`)
		default:
			writeJSON(w, 400, `{"code":"bad_request","message":"cursor: malformed"}`)
		}
	})
	nodes, err := c.ListNodes(context.Background())
	if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || nodes[1].Name != "b" || !slices.Equal(cursors, []string{"", "c1"}) {
		t.Fatalf("ListNodes = %+v, %v (cursors sent %q)", nodes, err, cursors)
	}
	loop := newServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"nodes":[{"id":"n1","name":"a"}],"next_cursor":"same"}`)
	})
	if _, err := loop.ListNodes(context.Background()); err == nil || !strings.Contains(err.Error(), `cursor "same" twice`) {
		t.Errorf("a repeated cursor: %v", err)
	}
}
