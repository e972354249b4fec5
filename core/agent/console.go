package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// consoleEndWait bounds how long the agent waits, once it sent why a
// console ended, for the server to end the call before cutting it.
const consoleEndWait = 5 * time.Second

// consoles counts the consoles agents of this process carry.
var consoles atomic.Int64

// OpenConsoles says how many consoles the agents of this process carry
// now: opened on the backend and attached to a server.
func OpenConsoles() int64 { return consoles.Load() }

// console serves one console_open of the session: it opens the VM's
// console on the backend and attaches it to the server on an
// AgentConsole call of its own, or tells the server why it could not. The
// console ends with the session (ctx), when the server ends the call, or
// when the backend ends it (the VM stopped); it returns once everything it
// started is over.
func (s *session) console(ctx context.Context, open *agentv1.ConsoleOpen) {
	log := s.a.log.With("vm_id", open.GetVmId())
	if s.consoleClient == nil {
		log.Warn("a console was asked on a session without a console client; ignored")
		return
	}
	var (
		c   io.ReadWriteCloser
		err error
	)
	if co, ok := s.a.cfg.Backend.(backend.ConsoleOpener); ok {
		octx, cancel := context.WithTimeout(ctx, backendCallTimeout)
		c, err = co.OpenConsole(octx, open.GetVmId())
		cancel()
	} else {
		err = plugin.Unsupported("the node's backend has no serial console")
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c != nil {
		// However the console ends here (the server closed it, the
		// session ended), the backend's console is closed at once: a
		// read or write on it blocked by a backend that stopped taking
		// input returns.
		defer context.AfterFunc(cctx, func() { c.Close() })()
		s.trackConsole(open.GetToken(), cancel)
		defer s.untrackConsole(open.GetToken())
	}
	stream, serr := s.consoleClient.Attach(cctx)
	first := &agentv1.ConsoleFrame{Token: open.GetToken(), Opened: err == nil}
	if err != nil {
		first.Error = wire.ConsoleErrorToProto(err)
	}
	if serr == nil {
		serr = stream.Send(first)
	}
	if serr != nil {
		if c != nil {
			c.Close()
		}
		log.Warn("attaching a console to the server failed", "error", serr)
		return
	}
	if err != nil {
		log.Debug("opening a console failed", "error", err)
		// The server ends the call once it read the error.
		stream.CloseSend()
		waitEnd(stream, consoleEndWait)
		return
	}
	consoles.Add(1)
	defer consoles.Add(-1)
	log.Debug("console attached")

	// The server's bytes go to the guest; the call ending (the server
	// closed the console, or the session ended) closes the console, which
	// ends the loop below.
	var (
		wg sync.WaitGroup
		// serverEnded is set when the server ended the call.
		serverEnded atomic.Bool
	)
	wg.Go(func() {
		defer c.Close()
		for {
			f, err := stream.Recv()
			if err != nil {
				serverEnded.Store(true)
				return
			}
			if len(f.GetData()) > 0 {
				if _, err := c.Write(f.GetData()); err != nil {
					return
				}
			}
		}
	})
	buf := make([]byte, wire.ConsoleChunk)
	var end nodeapi.ConsoleEnd
	for {
		n, rerr := c.Read(buf)
		if n > 0 {
			if err := stream.Send(&agentv1.ConsoleFrame{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				end = nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleClosed}
				break
			}
		}
		if rerr != nil {
			if cctx.Err() != nil || serverEnded.Load() {
				end = nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleClosed}
			} else {
				end = s.consoleEnd(ctx, open.GetVmId(), rerr)
			}
			break
		}
	}
	c.Close()
	if end.Reason != "" {
		// Ended on this side: the server learns why, then ends the call.
		if err := stream.Send(&agentv1.ConsoleFrame{End: wire.ConsoleEndToProto(end)}); err == nil {
			stream.CloseSend()
			timer := time.AfterFunc(consoleEndWait, cancel)
			wg.Wait()
			timer.Stop()
		}
	}
	cancel()
	wg.Wait()
	log.Debug("console ended", "cause", end.Cause, "reason", end.Reason)
}

// trackConsole registers the console attached with token, so that the
// server's console_close ends it (cancel).
func (s *session) trackConsole(token string, cancel context.CancelFunc) {
	s.consoleMu.Lock()
	defer s.consoleMu.Unlock()
	if s.consoleEnds == nil {
		s.consoleEnds = map[string]context.CancelFunc{}
	}
	s.consoleEnds[token] = cancel
}

func (s *session) untrackConsole(token string) {
	s.consoleMu.Lock()
	defer s.consoleMu.Unlock()
	delete(s.consoleEnds, token)
}

// endConsole ends the console attached with token: the server closed it.
// A token no longer known (the console ended here first) is ignored.
func (s *session) endConsole(token string) {
	s.consoleMu.Lock()
	cancel := s.consoleEnds[token]
	s.consoleMu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// waitEnd waits for the server to end the call, at most d.
func waitEnd(stream interface {
	Recv() (*agentv1.ConsoleFrame, error)
}, d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// consoleEnd says why the backend ended VM id's console: read ended with
// err (io.EOF when the backend ended it).
func (s *session) consoleEnd(ctx context.Context, id string, err error) nodeapi.ConsoleEnd {
	if !errors.Is(err, io.EOF) {
		if plugin.KindOf(err) == plugin.KindUnavailable {
			return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleNodeGone, Reason: fmt.Sprintf("the node's backend went away: %v", err)}
		}
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleFailed, Reason: fmt.Sprintf("reading the console failed: %v", err)}
	}
	gctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	vm, gerr := s.a.cfg.Backend.GetVM(gctx, id)
	switch {
	case plugin.KindOf(gerr) == plugin.KindNotFound:
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleVMStopped, Reason: "the vm was deleted"}
	case gerr == nil && vm.State != backend.StateRunning && vm.State != backend.StatePaused:
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleVMStopped, Reason: fmt.Sprintf("vm %s stopped (%s)", vm.Name, vm.State)}
	case gerr == nil:
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleFailed, Reason: fmt.Sprintf("the hypervisor ended the console of vm %s, which runs (another client may have taken the console over)", vm.Name)}
	}
	return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleFailed, Reason: fmt.Sprintf("the backend ended the console (and cannot say how the vm is: %v)", gerr)}
}
