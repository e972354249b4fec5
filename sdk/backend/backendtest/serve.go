package backendtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/quantixvm/quantix/sdk/backend"
	"google.golang.org/grpc/metadata"
)

// Serve serves impl through go-plugin's gRPC transport inside the test
// process (goplugin.TestPluginGRPCConn) and returns the host side: the
// *backend.GRPCClient dispensed under backend.PluginName, exactly what the
// Quantix agent gets from a plugin process. Types and errors cross a real
// gRPC connection. Client and server are shut down when t ends; impl itself
// is not closed.
func Serve(t testing.TB, impl backend.Backend) *backend.GRPCClient {
	t.Helper()
	return serve(t, impl)
}

func serve(t testing.TB, impl backend.Backend) *backend.GRPCClient {
	t.Helper()
	c, err := dispense(t, impl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dispense is serve returning its error instead of failing t, for callers
// running in another test's goroutine; only t's Cleanup is used (and its
// Fatalf if the loopback listener cannot be opened).
func dispense(t testing.TB, impl backend.Backend) (*backend.GRPCClient, error) {
	ps := goplugin.PluginSet{backend.PluginName: backend.NewGRPCPlugin(impl)}
	// Closing the client asks the server, through go-plugin's controller
	// service, to stop: the same shutdown path a plugin process takes.
	client, _ := goplugin.TestPluginGRPCConn(t, false, ps)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(backend.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispensing plugin %q over gRPC: %w", backend.PluginName, err)
	}
	c, ok := raw.(*backend.GRPCClient)
	if !ok {
		return nil, fmt.Errorf("dispensing plugin %q: got %T, want *backend.GRPCClient", backend.PluginName, raw)
	}
	return c, nil
}

// callKey is the gRPC metadata key the suite tags its streaming calls with,
// so that the plugin side of a call can be matched with the host side.
const callKey = "x-quantix-backendtest-call"

// streamCall is the plugin side of one StreamLog or WatchEvents call.
type streamCall struct {
	entered chan struct{}
	done    chan struct{}
	err     error
}

// tracker wraps the Backend under test on the plugin side of the connection
// and records when its streaming calls start and return, and with what.
type tracker struct {
	backend.Backend
	mu    sync.Mutex
	calls map[string]*streamCall
	// consoles counts the consoles of a ConsoleOpener (console.go); nil
	// for a backend without.
	consoles *consoleTracker
}

func newTracker(impl backend.Backend) *tracker {
	return &tracker{Backend: impl, calls: map[string]*streamCall{}}
}

// call returns the record of the call tagged id, creating it.
func (tr *tracker) call(id string) *streamCall {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c, ok := tr.calls[id]
	if !ok {
		c = &streamCall{entered: make(chan struct{}), done: make(chan struct{})}
		tr.calls[id] = c
	}
	return c
}

// tag returns ctx carrying id as gRPC metadata, and the record of the plugin
// side of the call made with it.
func (tr *tracker) tag(ctx context.Context, id string) (context.Context, *streamCall) {
	return metadata.AppendToOutgoingContext(ctx, callKey, id), tr.call(id)
}

func (tr *tracker) track(ctx context.Context, run func() error) error {
	md, _ := metadata.FromIncomingContext(ctx)
	ids := md.Get(callKey)
	if len(ids) == 0 {
		return run()
	}
	c := tr.call(ids[0])
	close(c.entered)
	err := run()
	c.err = err
	close(c.done)
	return err
}

// StreamLog records the call and passes it on.
func (tr *tracker) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	return tr.track(ctx, func() error { return tr.Backend.StreamLog(ctx, id, offset, fn) })
}

// StreamLogFrom records the call and passes it on, as StreamLog to a
// backend that does not resume by file.
func (tr *tracker) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	r, ok := tr.Backend.(backend.LogResumer)
	if !ok {
		return tr.StreamLog(ctx, id, from.Offset, fn)
	}
	return tr.track(ctx, func() error { return r.StreamLogFrom(ctx, id, from, fn) })
}

// WatchEvents records the call and passes it on.
func (tr *tracker) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	return tr.track(ctx, func() error { return tr.Backend.WatchEvents(ctx, fn) })
}
