package agentserver

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// serveConsoles has scripted agent a answer console_open as an agent
// does: VM "missing" is not found; any other VM's console echoes what it
// is sent until "stop\n", upon which the agent ends it as its VM
// stopping.
func serveConsoles(t *testing.T, a *scripted) {
	stream, client := a.stream, agentv1.NewAgentConsoleClient(a.conn)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			open := m.GetConsoleOpen()
			if open == nil {
				continue
			}
			go func() {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				call, err := client.Attach(ctx)
				if err != nil {
					t.Errorf("attaching a console: %v", err)
					return
				}
				if open.GetVmId() == "missing" {
					_ = call.Send(&agentv1.ConsoleFrame{Token: open.GetToken(), Error: wire.ConsoleErrorToProto(plugin.NotFound("vm missing not found"))})
					_ = call.CloseSend()
					_, _ = call.Recv()
					return
				}
				if err := call.Send(&agentv1.ConsoleFrame{Token: open.GetToken(), Opened: true}); err != nil {
					return
				}
				for {
					f, err := call.Recv()
					if err != nil {
						return
					}
					if string(f.GetData()) == "stop\n" {
						_ = call.Send(&agentv1.ConsoleFrame{End: &agentv1.ConsoleEnd{Cause: string(nodeapi.ConsoleVMStopped), Reason: "vm " + open.GetVmId() + " stopped (STOPPED)"}})
						_ = call.CloseSend()
						_, _ = call.Recv()
						return
					}
					if err := call.Send(&agentv1.ConsoleFrame{Data: f.GetData()}); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func readN(t *testing.T, c nodeapi.Console, n int) string {
	t.Helper()
	b := make([]byte, n)
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(c, b)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading the console: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console gave nothing back within 10s")
	}
	return string(b)
}

// TestClusterForwardsConsoles: a console opened through server A for a
// node whose agent is attached to server B is carried through B both
// ways; the agent's errors keep their kind, its end comes back with its
// reason, closing on A ends it on B, and a session's end ends its
// consoles as the node going away.
func TestClusterForwardsConsoles(t *testing.T) {
	c := newClusterEnv(t)
	a, b := c.start("srv-a"), c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	serveConsoles(t, agent)
	wait.Until(t, 5*time.Second, "server A to count the node connected", func() bool { return connectedTo(a.disp, agent.node) })
	ctx := context.Background()

	_, err := a.disp.OpenConsole(ctx, agent.node, "missing")
	if plugin.KindOf(err) != plugin.KindNotFound || !strings.Contains(err.Error(), "vm missing not found") {
		t.Errorf("a console of a missing vm through A: %v; want the agent's not found", err)
	}

	con, err := a.disp.OpenConsole(ctx, agent.node, "vm-1")
	if err != nil {
		t.Fatalf("a console through A: %v", err)
	}
	if _, err := con.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, con, 5); got != "hello" {
		t.Errorf("echo through A and B = %q", got)
	}
	if _, err := con.Write([]byte("stop\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := con.Read(make([]byte, 16)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("Read of a console the agent ended = %d, %v; want io.EOF", n, err)
	}
	if end := nodeapi.EndOf(con); end.Cause != nodeapi.ConsoleVMStopped || !strings.Contains(end.Reason, "vm-1 stopped") {
		t.Errorf("the end of a console the agent ended = %+v", end)
	}
	con.Close()
	wait.Until(t, 5*time.Second, "the consoles released on both servers", func() bool { return OpenConsoles() == 0 })

	// Closing on A ends the console on B; the session ending ends the
	// others as the node going away.
	con, err = a.disp.OpenConsole(ctx, agent.node, "vm-1")
	if err != nil {
		t.Fatal(err)
	}
	con.Close()
	wait.Until(t, 5*time.Second, "a console closed on A released on both servers", func() bool { return OpenConsoles() == 0 })
	con, err = a.disp.OpenConsole(ctx, agent.node, "vm-1")
	if err != nil {
		t.Fatal(err)
	}
	local, err := b.disp.OpenConsole(ctx, agent.node, "vm-2")
	if err != nil {
		t.Fatal(err)
	}
	agent.cancel()
	for what, c := range map[string]nodeapi.Console{"forwarded": con, "local": local} {
		if n, err := c.Read(make([]byte, 16)); n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("Read of a %s console whose session ended = %d, %v; want io.EOF", what, n, err)
		}
		if end := nodeapi.EndOf(c); end.Cause != nodeapi.ConsoleNodeGone {
			t.Errorf("the end of a %s console whose session ended = %+v, want %s", what, end, nodeapi.ConsoleNodeGone)
		}
		c.Close()
	}
	wait.Until(t, 5*time.Second, "the consoles released after the session ended", func() bool { return OpenConsoles() == 0 })
}

// TestConsoleAttachRefusesUnknownTokens: AgentConsole.Attach takes only
// a token the server gave out and waits for.
func TestConsoleAttachRefusesUnknownTokens(t *testing.T) {
	c := newClusterEnv(t)
	b := c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	call, err := agentv1.NewAgentConsoleClient(agent.conn).Attach(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(&agentv1.ConsoleFrame{Token: "0123456789abcdef0123456789abcdef", Opened: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); status.Code(err) != codes.NotFound {
		t.Errorf("attaching with a token never given: %v; want NOT_FOUND", err)
	}
}
