package sim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The control socket gives a plugin process's scripting methods to other
// processes, so that tests of a whole daemon (the browser tests of the web
// console) can change the simulated host behind Quantix's back. It is off
// unless the config block sets control_socket.
//
// Protocol: a client connects to the unix socket and writes one JSON object
// per line; each gets one JSON line back, in order:
//
//	{"op": "set_state", "vm": "<uuid or name>", "state": "STOPPED"}
//	{"op": "crash" | "guest_shutdown" | "remove", "vm": "<uuid or name>"}
//	{"op": "disconnect"} | {"op": "reconnect"} | {"op": "resync"}
//	{"op": "consoles"}  (how many consoles are open, in the reply's consoles)
//	{"op": "stats_calls"}  (how many times CollectStats was called, in the
//	                        reply's stats_calls)
//
//	-> {"ok": true, "vm": {...the VM after the change...}}
//	-> {"ok": false, "error": "crashing vm ...: vm is STOPPED ..."}
//
// The socket is created with mode 0600, so only the plugin's user (and
// root) may use it; it is removed by Close.

// ControlRequest is one request on the control socket.
type ControlRequest struct {
	Op    string `json:"op"`
	VM    string `json:"vm,omitempty"`
	State string `json:"state,omitempty"`
}

// ControlReply answers one ControlRequest.
type ControlReply struct {
	OK    bool        `json:"ok"`
	Error string      `json:"error,omitempty"`
	VM    *backend.VM `json:"vm,omitempty"`
	// Consoles answers op "consoles": how many consoles are open.
	Consoles int `json:"consoles,omitempty"`
	// StatsCalls answers op "stats_calls": how many times CollectStats
	// was called.
	StatsCalls int64 `json:"stats_calls,omitempty"`
}

// controlLine bounds a request line.
const controlLine = 64 << 10

// AskControl sends req on the control socket at path, on a connection of
// its own, and returns the reply; a reply that is not OK is an error
// carrying the plugin's message.
func AskControl(path string, req ControlRequest) (*ControlReply, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("the sim's control socket: %w", err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("control request %q: %w", req.Op, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("control request %q: reading the reply: %w", req.Op, err)
	}
	var r ControlReply
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("control request %q: reply %s: %w", req.Op, line, err)
	}
	if !r.OK {
		return nil, fmt.Errorf("control request %q: %s", req.Op, r.Error)
	}
	return &r, nil
}

// listenControl opens the control socket at path (a stale socket file left
// by a killed process is replaced) and serves it until Close.
func (b *Backend) listenControl(path string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return plugin.InvalidArgument("control_socket", "config: attribute \"control_socket\": %s exists and is not a socket; remove it or choose another path", path)
		}
		if err := os.Remove(path); err != nil {
			return plugin.InvalidArgument("control_socket", "config: attribute \"control_socket\": removing the stale socket %s: %v", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return plugin.InvalidArgument("control_socket", "config: attribute \"control_socket\": %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return plugin.InvalidArgument("control_socket", "config: attribute \"control_socket\": %v", err)
	}
	b.control, b.controlPath = ln, path
	go b.serveControl(ln)
	b.log.Info("control socket open", "path", path)
	return nil
}

// serveControl accepts control connections until ln is closed.
func (b *Backend) serveControl(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				b.log.Error("control socket: accept failed", "error", err)
			}
			return
		}
		go b.controlConn(conn)
	}
}

// controlConn answers the requests of one connection.
func (b *Backend) controlConn(conn net.Conn) {
	defer conn.Close()
	go func() {
		<-b.life.Done()
		conn.Close()
	}()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), controlLine)
	enc := json.NewEncoder(conn)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var req ControlRequest
		var reply ControlReply
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply.Error = fmt.Sprintf("control request: %v; want {\"op\": ..., \"vm\": ..., \"state\": ...}", err)
		} else if req.Op == "consoles" {
			reply.OK, reply.Consoles = true, b.OpenConsoles()
		} else if req.Op == "stats_calls" {
			reply.OK, reply.StatsCalls = true, b.StatsCalls()
		} else if vm, err := b.Control(req); err != nil {
			reply.Error = err.Error()
		} else {
			reply.OK, reply.VM = true, vm
		}
		if err := enc.Encode(reply); err != nil {
			return
		}
	}
}

// Control runs one control request: the scripting method its op names, on
// the VM it names by UUID or by name. It returns the VM after the change
// (nil for the ops on the connection).
func (b *Backend) Control(req ControlRequest) (*backend.VM, error) {
	switch req.Op {
	case "disconnect":
		b.Disconnect()
		return nil, nil
	case "reconnect":
		b.Reconnect()
		return nil, nil
	case "resync":
		b.Resync()
		return nil, nil
	}
	id, err := b.resolveVM(req.VM)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case "set_state":
		return b.SetState(id, backend.PowerState(strings.ToUpper(req.State)))
	case "crash":
		return b.Crash(id)
	case "guest_shutdown":
		return b.GuestShutdown(id)
	case "remove":
		return b.Remove(id)
	}
	return nil, plugin.InvalidArgument("op", "control request: op %q is not one of set_state, crash, guest_shutdown, remove, disconnect, reconnect, resync, consoles", req.Op)
}

// resolveVM returns the id of the VM named by ref, a UUID or a name.
func (b *Backend) resolveVM(ref string) (string, error) {
	if ref == "" {
		return "", plugin.InvalidArgument("vm", "control request: field \"vm\" is empty; give the VM's uuid or name")
	}
	if uuidRE.MatchString(ref) {
		return strings.ToLower(ref), nil
	}
	b.mu.RLock()
	id, ok := b.names[ref]
	b.mu.RUnlock()
	if !ok {
		return "", plugin.NotFound("control request: no vm named %q", ref)
	}
	return id, nil
}
