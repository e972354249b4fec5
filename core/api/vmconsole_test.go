package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// consoleEnv is the API with the log pipeline and a simulated host (whose
// consoles echo) served over HTTP, with a running VM.
type consoleEnv struct {
	*logEnv
	http *httptest.Server
	vmID string
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	le := newLogEnv(t, "sqlite", logEnvOptions{backend: true})
	ce := &consoleEnv{logEnv: le, http: httptest.NewServer(le.srv)}
	t.Cleanup(ce.http.Close)
	r := le.do(t, "POST", "/api/vms", `{"name":"tty","vcpus":1,"memory_mib":64}`)
	r.want(t, http.StatusCreated, "")
	ce.vmID = r.str("id")
	le.do(t, "POST", "/api/vms/tty/start", "").want(t, http.StatusOK, "")
	return ce
}

// user makes a user named name with role and returns a token of it.
func (ce *consoleEnv) user(t *testing.T, name string, role identity.Role) cred {
	t.Helper()
	ctx := context.Background()
	u, err := ce.auth.CreateUser(ctx, name, adminPassword, role)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := ce.auth.CreateToken(ctx, userPrincipal(u), auth.TokenSpec{Name: name + "-token"})
	if err != nil {
		t.Fatal(err)
	}
	return cred{token: secret}
}

// dial opens path as a WebSocket with c and the extra headers (key, value
// pairs).
func (ce *consoleEnv) dial(t *testing.T, c cred, path string, header ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", bearer(c.token))
	}
	if c.cookie != "" {
		h.Set("Cookie", auth.CookieName+"="+c.cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, ce.http.URL+path, &websocket.DialOptions{HTTPHeader: h})
	if ws != nil {
		t.Cleanup(func() { _ = ws.CloseNow() })
	}
	return ws, resp, err
}

// open opens the VM's console as c and fails the test if it does not
// upgrade.
func (ce *consoleEnv) open(t *testing.T, c cred, query string) *websocket.Conn {
	t.Helper()
	ws, resp, err := ce.dial(t, c, "/api/vms/tty/console"+query)
	if err != nil {
		t.Fatalf("opening the console: %v (reply %v)", err, status(resp))
	}
	return ws
}

func status(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// openReady opens the VM's console as c and waits until it is open end to
// end: what it sends comes back (the simulated host echoes).
func (ce *consoleEnv) openReady(t *testing.T, c cred, query string) *websocket.Conn {
	t.Helper()
	ws := ce.open(t, c, query)
	if err := ws.Write(context.Background(), websocket.MessageBinary, []byte("ready?")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "ready?")
	return ws
}

// readUntil reads frames from ws until what it got holds want.
func readUntil(t *testing.T, ws *websocket.Conn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got bytes.Buffer
	for !strings.Contains(got.String(), want) {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading the console for %q (got %q): %v", want, got.String(), err)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("a %v frame; the console sends binary frames", typ)
		}
		got.Write(b)
	}
}

// closeOf reads ws until it closes and returns the close code and reason.
func closeOf(t *testing.T, ws *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("the console ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// TestConsoleAccess: a viewer, a stranger, a foreign page and a request
// without the handshake are refused before any upgrade; an operator and
// the server's own origin are let in.
func TestConsoleAccess(t *testing.T) {
	ce := newConsoleEnv(t)
	viewer := ce.user(t, "vera", identity.RoleViewer)
	op := ce.user(t, "otto", identity.RoleOperator)

	for _, tc := range []struct {
		what   string
		c      cred
		path   string
		header []string
		status int
		body   string
	}{
		{"no credentials", cred{}, "/api/vms/tty/console", nil, http.StatusUnauthorized, "unauthenticated"},
		{"a viewer", viewer, "/api/vms/tty/console", nil, http.StatusForbidden, "needs the operator role"},
		{"a foreign origin", op, "/api/vms/tty/console", []string{"Origin", "https://evil.example"}, http.StatusForbidden, "is not this server's"},
		{"an origin on another port", op, "/api/vms/tty/console", []string{"Origin", "http://127.0.0.1:1"}, http.StatusForbidden, "is not this server's"},
		{"a bad force", op, "/api/vms/tty/console?force=maybe", nil, http.StatusBadRequest, "force"},
	} {
		ws, resp, err := ce.dial(t, tc.c, tc.path, tc.header...)
		if err == nil {
			_ = ws.CloseNow()
			t.Errorf("%s: the console opened", tc.what)
			continue
		}
		if resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%s: %v, want %d", tc.what, status(resp), tc.status)
			continue
		}
		if b := status(resp); !strings.Contains(b, tc.body) {
			t.Errorf("%s: reply %s does not say %q", tc.what, b, tc.body)
		}
	}
	// A plain GET: 426 saying what to send.
	req, _ := http.NewRequest("GET", ce.http.URL+"/api/vms/tty/console", nil)
	op.apply(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("a GET without the handshake: %d, want 426", resp.StatusCode)
	}

	// Every refusal of a caller with a role is audited as a refused open,
	// the viewer's (refused for its role before the handler) as an
	// operator's: user, VM and status.
	refused := map[string]int{}
	wait.UntilNil(t, 30*time.Second, "the refused opens' audit entries", func() error {
		page, err := ce.store.Logs().Query(context.Background(), store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
		if err != nil {
			return err
		}
		clear(refused)
		for _, e := range page.Entries {
			if e.Action != "vm.console.open" {
				continue
			}
			var f map[string]any
			if err := json.Unmarshal(e.Fields, &f); err != nil {
				return err
			}
			if e.VMID != ce.vmID || e.Level != logsink.LevelWarn || !strings.Contains(e.Message, "was refused the console of vm \"tty\"") {
				t.Errorf("refused open entry %q: vm %q level %v; want vm %q, warn, and the refusal said", e.Message, e.VMID, e.Level, ce.vmID)
			}
			refused[fmt.Sprintf("%v %v", f["user"], f["status"])]++
		}
		n := 0
		for _, k := range refused {
			n += k
		}
		if n < 5 {
			return fmt.Errorf("refused opens audited: %v", refused)
		}
		return nil
	})
	want := map[string]int{"vera 403": 1, "otto 403": 2, "otto 400": 1, "otto 426": 1}
	if fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("refused opens audited (user status: count) %v; want %v", refused, want)
	}

	// The server's own origin, with a session cookie (as the web console
	// opens it): served.
	sess, r, _ := ce.login(t, "admin", adminPassword)
	r.want(t, http.StatusOK, "")
	ws, resp, err := ce.dial(t, cred{cookie: sess.cookie}, "/api/vms/tty/console", "Origin", ce.http.URL)
	if err != nil {
		t.Fatalf("same origin with the session cookie: %v %s", err, status(resp))
	}
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("echo me\r")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "echo me")
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

// TestConsoleExclusiveAndForce: a second user is refused naming the first;
// with force, the first user's console closes saying who took it over;
// each step is audited.
func TestConsoleExclusiveAndForce(t *testing.T) {
	ce := newConsoleEnv(t)
	alice := ce.user(t, "alice", identity.RoleOperator)
	bob := ce.user(t, "bob", identity.RoleOperator)
	ctx := context.Background()

	a := ce.open(t, alice, "")
	if err := a.Write(ctx, websocket.MessageBinary, []byte("hello from alice")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, a, "hello from alice")

	b := ce.open(t, bob, "")
	code, reason := closeOf(t, b)
	if code != CloseRefusedBase+http.StatusConflict || !strings.Contains(reason, "alice") {
		t.Fatalf("bob's open without force closed %d %q; want 4409 naming alice", code, reason)
	}

	b = ce.open(t, bob, "?force=true")
	code, reason = closeOf(t, a)
	if code != CloseTakenOver || !strings.Contains(reason, "bob") {
		t.Fatalf("alice's console closed %d %q; want %d naming bob", code, reason, CloseTakenOver)
	}
	if err := b.Write(ctx, websocket.MessageBinary, []byte("bob here")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, b, "bob here")
	if err := b.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("bob closing: %v", err)
	}

	// open alice, refused bob, open bob, take-over, close alice, close bob.
	var entries []logsink.Entry
	wait.UntilNil(t, 30*time.Second, "the console's audit entries", func() error {
		page, err := ce.store.Logs().Query(ctx, store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
		if err != nil {
			return err
		}
		entries = entries[:0]
		for _, e := range page.Entries {
			if strings.HasPrefix(e.Action, "vm.console.") {
				entries = append(entries, e)
			}
		}
		if len(entries) < 6 {
			return fmt.Errorf("%d console audit entries", len(entries))
		}
		return nil
	})
	count := map[string]int{}
	for _, e := range entries {
		var f map[string]any
		if err := json.Unmarshal(e.Fields, &f); err != nil {
			t.Fatal(err)
		}
		if e.VMID != ce.vmID || e.UserID == "" || f["user"] == "" {
			t.Errorf("entry %s %q: vm %q user %v; want the VM and the user named", e.Action, e.Message, e.VMID, f["user"])
		}
		count[e.Action]++
		switch e.Action {
		case "vm.console.open":
			if f["user"] == "bob" && f["status"] == float64(409) && !strings.Contains(e.Message, "alice") {
				t.Errorf("bob's refused open %q does not name alice", e.Message)
			}
		case "vm.console.takeover":
			if f["user"] != "bob" || f["previous_user"] != "alice" || !strings.Contains(e.Message, "alice") {
				t.Errorf("take-over entry %q %s; want bob taking from alice", e.Message, e.Fields)
			}
		case "vm.console.close":
			if f["session_ms"] == nil || f["bytes_in"] == nil || f["bytes_out"] == nil || f["reason"] == "" {
				t.Errorf("close entry %s lacks duration, bytes or reason", e.Fields)
			}
			if f["user"] == "alice" {
				if f["bytes_in"] != float64(len("hello from alice")) || f["close_code"] != float64(CloseTakenOver) {
					t.Errorf("alice's close entry %s; want 16 bytes in and code %d", e.Fields, CloseTakenOver)
				}
			}
		}
	}
	if count["vm.console.open"] != 3 || count["vm.console.takeover"] != 1 || count["vm.console.close"] != 2 {
		t.Errorf("console audit entries by action %v; want 3 open, 1 takeover, 2 close", count)
	}
}

// TestConsoleEnds: a console of a VM that stops closes with 4100; one of a
// stopped VM is refused with 4409; shutting the server down closes with
// 1001; an unknown VM is 4404.
func TestConsoleEnds(t *testing.T) {
	ce := newConsoleEnv(t)
	op := ce.user(t, "otto", identity.RoleOperator)

	ws := ce.openReady(t, op, "")
	ce.do(t, "POST", "/api/vms/tty/stop?force=true", "").want(t, http.StatusOK, "")
	if code, reason := closeOf(t, ws); code != CloseVMStopped {
		t.Errorf("the VM stopped: closed %d %q, want %d", code, reason, CloseVMStopped)
	}
	ws = ce.open(t, op, "")
	if code, reason := closeOf(t, ws); code != CloseRefusedBase+http.StatusConflict || !strings.Contains(reason, "STOPPED") {
		t.Errorf("a stopped VM: closed %d %q, want 4409 saying STOPPED", code, reason)
	}
	ws, resp, err := ce.dial(t, op, "/api/vms/nope/console")
	if err != nil {
		t.Fatalf("%v %s", err, status(resp))
	}
	if code, reason := closeOf(t, ws); code != CloseRefusedBase+http.StatusNotFound {
		t.Errorf("an unknown VM: closed %d %q, want 4404", code, reason)
	}

	ce.do(t, "POST", "/api/vms/tty/start", "").want(t, http.StatusOK, "")
	ws = ce.openReady(t, op, "")
	ce.srv.CloseConsoles()
	if code, reason := closeOf(t, ws); code != websocket.StatusGoingAway || !strings.Contains(reason, "shutting down") {
		t.Errorf("shutting down: closed %d %q, want 1001", code, reason)
	}
	ws = ce.open(t, op, "")
	if code, _ := closeOf(t, ws); code != websocket.StatusGoingAway {
		t.Errorf("opened after shutting down: closed %d, want 1001", code)
	}
}

// TestConsoleNodeGone: the console of a VM whose node's agent goes away
// closes with 4102.
func TestConsoleNodeGone(t *testing.T) {
	ce := newConsoleEnv(t)
	ws := ce.open(t, ce.adminCred(), "")
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ws, "ping")
	ce.host.Stop()
	if code, reason := closeOf(t, ws); code != CloseNodeGone {
		t.Errorf("the node went away: closed %d %q, want %d", code, reason, CloseNodeGone)
	}
}
