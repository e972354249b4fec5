package backend

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// consoleChunk bounds the bytes of one console message each way.
const consoleChunk = 32 << 10

// ConsoleServer serves a ConsoleOpener's consoles over gRPC (the Console
// service). Plugins do not use it directly; Serve registers it when the
// backend is a ConsoleOpener.
type ConsoleServer struct {
	backendv1.UnimplementedConsoleServer
	Impl ConsoleOpener
}

var _ backendv1.ConsoleServer = (*ConsoleServer)(nil)

// Open attaches the call to the console the first message names, copies
// bytes both ways until either side ends, and closes the console before it
// returns. A console ended on the backend's side (io.EOF) ends the call
// with OK.
func (s *ConsoleServer) Open(stream backendv1.Console_OpenServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetVmId() == "" {
		return plugin.ToStatus(plugin.InvalidArgument("vm_id", "console: the first message names no vm (vm_id is empty)"))
	}
	c, err := s.Impl.OpenConsole(stream.Context(), first.GetVmId())
	if err != nil {
		return plugin.ToStatus(err)
	}
	defer c.Close()
	if err := stream.Send(&backendv1.ConsoleOutput{Opened: true}); err != nil {
		return err
	}
	if len(first.GetData()) > 0 {
		if _, err := c.Write(first.GetData()); err != nil {
			return plugin.ToStatus(err)
		}
	}
	// The host's bytes go in from a goroutine of their own; it ends with
	// the call (Recv fails once Open returns) and closes the console when
	// the host closes its side, which ends the loop below.
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				c.Close()
				return
			}
			if _, err := c.Write(in.GetData()); err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, consoleChunk)
	for {
		n, rerr := c.Read(buf)
		if n > 0 {
			if err := stream.Send(&backendv1.ConsoleOutput{Data: slices.Clone(buf[:n])}); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if stream.Context().Err() != nil {
				return stream.Context().Err()
			}
			return plugin.ToStatus(rerr)
		}
	}
}

// OpenConsole opens VM id's serial console on the plugin (the Console
// service, backend API version 2). The call's context is ctx without its
// deadline or cancellation, as ctx bounds the opening only: the console
// lives until it ends or Close. The host checks first that the plugin
// negotiated version 2 and announces CapConsole; a plugin that does not
// serve the service answers plugin.ErrUnsupported.
func (c *GRPCClient) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Until it is attached, the console is bounded by ctx as well.
	stop := context.AfterFunc(ctx, cancel)
	stream, err := c.console.Open(sctx)
	if err == nil {
		err = stream.Send(&backendv1.ConsoleInput{VmId: id})
	}
	var first *backendv1.ConsoleOutput
	if err == nil {
		first, err = stream.Recv()
	}
	if !stop() {
		// ctx ended while opening: its error says why.
		cancel()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
	}
	if err == nil && !first.GetOpened() {
		err = plugin.Unavailable("console of vm %s: the plugin answered without attaching it; rebuild the plugin against the current sdk", id)
	}
	if err != nil {
		cancel()
		if err == io.EOF {
			return nil, plugin.Unavailable("console of vm %s: the plugin ended the call before attaching it", id)
		}
		return nil, plugin.FromStatus(err)
	}
	return &clientConsole{stream: stream, cancel: cancel}, nil
}

// clientConsole is the host's side of an open console.
type clientConsole struct {
	stream backendv1.Console_OpenClient
	cancel context.CancelFunc
	// pending holds what a Read did not take of the last message; only the
	// reading goroutine touches it.
	pending []byte

	mu     sync.Mutex
	closed bool
}

func (c *clientConsole) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Read returns what the guest wrote; io.EOF once the console ended on the
// plugin's side or was closed here.
func (c *clientConsole) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		out, err := c.stream.Recv()
		if err != nil {
			if err == io.EOF || c.isClosed() {
				return 0, io.EOF
			}
			return 0, plugin.FromStatus(err)
		}
		c.pending = out.GetData()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends p to the guest, in messages of at most consoleChunk bytes.
func (c *clientConsole) Write(p []byte) (int, error) {
	if c.isClosed() {
		return 0, errConsoleClosed
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), consoleChunk)
		if err := c.stream.Send(&backendv1.ConsoleInput{Data: slices.Clone(p[:n])}); err != nil {
			if err == io.EOF || c.isClosed() {
				return written, errConsoleClosed
			}
			return written, plugin.FromStatus(err)
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close cancels the call, upon which the plugin releases the console.
func (c *clientConsole) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	return nil
}

var errConsoleClosed = errors.New("console closed")

// registerConsole registers the Console service on s when impl is a
// ConsoleOpener.
func registerConsole(s *grpc.Server, impl Backend) {
	if co, ok := impl.(ConsoleOpener); ok {
		backendv1.RegisterConsoleServer(s, &ConsoleServer{Impl: co})
	}
}

// withServedCapabilities adds to caps the capabilities of the optional
// services Serve registers for impl.
func withServedCapabilities(caps []string, impl Backend) []string {
	if _, ok := impl.(ConsoleOpener); ok && !slices.Contains(caps, CapConsole) {
		caps = append(slices.Clip(caps), CapConsole)
	}
	if _, ok := impl.(StatsCollector); ok && !slices.Contains(caps, CapStats) {
		caps = append(slices.Clip(caps), CapStats)
	}
	return caps
}
