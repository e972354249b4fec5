package logsink

import (
	"context"

	logsinkv1 "github.com/quantixvm/quantix/proto/quantix/logsink/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// GRPCClient is the host's view of a log sink plugin: a Sink whose calls
// travel over gRPC. Errors come back as *plugin.Error of the kind the plugin
// returned; a plugin that is gone gives plugin.ErrUnavailable.
type GRPCClient struct {
	plugin.BaseClient
	client logsinkv1.LogSinkClient
}

var (
	_ Sink    = (*GRPCClient)(nil)
	_ Flusher = (*GRPCClient)(nil)
)

// NewGRPCClient wraps a connection to a log sink plugin.
func NewGRPCClient(conn grpc.ClientConnInterface) *GRPCClient {
	c := logsinkv1.NewLogSinkClient(conn)
	return &GRPCClient{BaseClient: plugin.NewBaseClient(c), client: c}
}

// Write sends the valid entries in one call; an entry that fails
// Entry.Validate is not sent and gets a permanent result saying why. A
// plugin that answers a wrong number of results, or a result without an
// outcome, fails the call with an internal error.
func (c *GRPCClient) Write(ctx context.Context, entries []Entry) ([]Result, error) {
	return write(ctx, entries, func(ctx context.Context, valid []Entry) ([]Result, error) {
		resp, err := c.client.Write(ctx, &logsinkv1.WriteRequest{Entries: entriesToProto(valid)})
		if err != nil {
			return nil, plugin.FromStatus(err)
		}
		results := resultsFromProto(resp.GetResults())
		if err := checkResults(results, len(valid)); err != nil {
			return nil, &plugin.Error{Kind: plugin.KindInternal, Message: "log sink plugin: " + err.Error()}
		}
		return results, nil
	})
}

// Flush asks the plugin to push what it buffers to its destination.
func (c *GRPCClient) Flush(ctx context.Context) error {
	_, err := c.client.Flush(ctx, &logsinkv1.FlushRequest{})
	return plugin.FromStatus(err)
}

// Close asks the plugin to flush and release the sink; the plugin process
// keeps running.
func (c *GRPCClient) Close(ctx context.Context) error {
	_, err := c.client.Close(ctx, &logsinkv1.CloseRequest{})
	return plugin.FromStatus(err)
}
