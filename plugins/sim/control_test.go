package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// controlClient sends requests to a control socket, one line each.
type controlClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialControl(t *testing.T, path string) *controlClient {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dialing the control socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &controlClient{conn: conn, r: bufio.NewReader(conn)}
}

func (c *controlClient) send(t *testing.T, line string) ControlReply {
	t.Helper()
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("writing %s: %v", line, err)
	}
	out, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the reply to %s: %v", line, err)
	}
	var reply ControlReply
	if err := json.Unmarshal([]byte(out), &reply); err != nil {
		t.Fatalf("reply %q to %s: %v", out, line, err)
	}
	return reply
}

func TestControlSocket(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	b := newSim(t, Config{ControlSocket: path})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("control socket: %v", err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode = %v, want a socket with mode 0600", fi.Mode())
	}
	vm, err := b.CreateVM(ctx, minimalSpec("web-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.StartVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	w := watch(t, b)
	c := dialControl(t, path)

	if r := c.send(t, `{"op": "set_state", "vm": "web-1", "state": "paused"}`); !r.OK || r.VM == nil || r.VM.State != backend.StatePaused {
		t.Errorf("set_state by name = %+v, want ok and the VM PAUSED", r)
	}
	if r := c.send(t, `{"op": "crash", "vm": "`+strings.ToUpper(vm.ID)+`"}`); !r.OK || r.VM.State != backend.StateCrashed {
		t.Errorf("crash by uuid = %+v, want ok and the VM CRASHED", r)
	}
	checkEvents(t, "control", w.wait(t, 2), vm, []backend.Event{
		{Type: backend.EventStateChanged, State: backend.StatePaused, Reason: ReasonScripted},
		{Type: backend.EventStateChanged, State: backend.StateCrashed, Reason: ReasonCrashed},
	})
	if got, _ := b.GetVM(ctx, vm.ID); got.State != backend.StateCrashed {
		t.Errorf("GetVM after crash = %s, want CRASHED", got.State)
	}

	for _, tc := range []struct{ line, want string }{
		{`{"op": "crash", "vm": "web-1"}`, "is crashed"},
		{`{"op": "explode", "vm": "web-1"}`, `op "explode"`},
		{`{"op": "crash", "vm": "nope"}`, `no vm named "nope"`},
		{`{"op": "crash"}`, `field "vm" is empty`},
		{`{"op": "set_state", "vm": "web-1", "state": "melted"}`, "not a power state"},
		{`{"op": "crash", "vm": "web-1", "force": true}`, `unknown field "force"`},
		{`not json`, "control request"},
	} {
		r := c.send(t, tc.line)
		if r.OK || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s = %+v, want an error containing %q", tc.line, r, tc.want)
		}
	}
	// The connection survives bad requests.
	if r := c.send(t, `{"op": "remove", "vm": "web-1"}`); !r.OK {
		t.Errorf("remove = %+v, want ok", r)
	}
	if _, err := b.GetVM(ctx, vm.ID); plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("GetVM after remove = %v, want not found", err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("control socket after Close: %v, want it removed", err)
	}
}

func TestControlSocketConfig(t *testing.T) {
	if _, err := ParseConfig([]byte(`{"control_socket": "ctl.sock"}`)); plugin.KindOf(err) != plugin.KindInvalidArgument || !strings.Contains(err.Error(), "control_socket") {
		t.Errorf("relative control_socket: %v, want an invalid argument naming it", err)
	}
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b := New()
	t.Cleanup(func() { b.Close() })
	err := configure(b, Config{Hostname: "h", LogDir: dir, ControlSocket: notSocket})
	if plugin.KindOf(err) != plugin.KindInvalidArgument || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("control_socket naming a file: %v, want an invalid argument saying it is not a socket", err)
	}

	// A stale socket left by a killed process is replaced; the path cannot
	// change on a later Configure.
	path := filepath.Join(dir, "ctl.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	b2 := newSim(t, Config{ControlSocket: path})
	dialControl(t, path)
	if err := configure(b2, Config{Hostname: "sim-test", LogDir: dir, ControlSocket: filepath.Join(dir, "other.sock")}); plugin.KindOf(err) != plugin.KindInvalidArgument {
		t.Errorf("changing control_socket: %v, want an invalid argument", err)
	}
}
