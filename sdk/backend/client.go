package backend

import (
	"context"
	"errors"
	"io"

	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// GRPCClient is the host's view of a backend plugin: a Backend whose calls
// travel over gRPC. Errors come back as *plugin.Error of the kind the plugin
// returned; a plugin that is gone gives plugin.ErrUnavailable.
type GRPCClient struct {
	plugin.BaseClient
	client  backendv1.BackendClient
	console backendv1.ConsoleClient
	stats   backendv1.StatsClient
}

var (
	_ Backend       = (*GRPCClient)(nil)
	_ HealthChecker = (*GRPCClient)(nil)
)

// NewGRPCClient wraps a connection to a backend plugin.
func NewGRPCClient(conn grpc.ClientConnInterface) *GRPCClient {
	c := backendv1.NewBackendClient(conn)
	return &GRPCClient{BaseClient: plugin.NewBaseClient(c), client: c, console: backendv1.NewConsoleClient(conn), stats: backendv1.NewStatsClient(conn)}
}

// CollectStats calls the plugin's Stats service. Only call it on a plugin
// that negotiated API version 2 and announces CapStats; any other answers
// with a plugin.ErrUnsupported error.
func (c *GRPCClient) CollectStats(ctx context.Context) (*HostStats, error) {
	resp, err := c.stats.CollectStats(ctx, &backendv1.CollectStatsRequest{})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return HostStatsFromProto(resp), nil
}

func (c *GRPCClient) HostInfo(ctx context.Context) (*HostInfo, error) {
	resp, err := c.client.HostInfo(ctx, &backendv1.HostInfoRequest{})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return HostInfoFromProto(resp), nil
}

func (c *GRPCClient) ListVMs(ctx context.Context) ([]*VM, error) {
	resp, err := c.client.ListVMs(ctx, &backendv1.ListVMsRequest{})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	vms := make([]*VM, 0, len(resp.GetVms()))
	for _, v := range resp.GetVms() {
		vms = append(vms, VMFromProto(v))
	}
	return vms, nil
}

func (c *GRPCClient) GetVM(ctx context.Context, id string) (*VM, error) {
	resp, err := c.client.GetVM(ctx, &backendv1.GetVMRequest{Id: id})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return VMFromProto(resp.GetVm()), nil
}

func (c *GRPCClient) CreateVM(ctx context.Context, spec VMSpec) (*VM, error) {
	resp, err := c.client.CreateVM(ctx, &backendv1.CreateVMRequest{Spec: SpecToProto(spec)})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return VMFromProto(resp.GetVm()), nil
}

func actionResult(resp *backendv1.VMActionResponse, err error) (*VM, error) {
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return VMFromProto(resp.GetVm()), nil
}

func (c *GRPCClient) StartVM(ctx context.Context, id string) (*VM, error) {
	return actionResult(c.client.StartVM(ctx, &backendv1.VMActionRequest{Id: id}))
}

func (c *GRPCClient) StopVM(ctx context.Context, id string, opts StopOptions) (*VM, error) {
	return actionResult(c.client.StopVM(ctx, &backendv1.StopVMRequest{Id: id, Force: opts.Force, TimeoutMs: opts.Timeout.Milliseconds()}))
}

func (c *GRPCClient) RebootVM(ctx context.Context, id string) (*VM, error) {
	return actionResult(c.client.RebootVM(ctx, &backendv1.VMActionRequest{Id: id}))
}

func (c *GRPCClient) PauseVM(ctx context.Context, id string) (*VM, error) {
	return actionResult(c.client.PauseVM(ctx, &backendv1.VMActionRequest{Id: id}))
}

func (c *GRPCClient) ResumeVM(ctx context.Context, id string) (*VM, error) {
	return actionResult(c.client.ResumeVM(ctx, &backendv1.VMActionRequest{Id: id}))
}

func (c *GRPCClient) DeleteVM(ctx context.Context, id string, opts DeleteOptions) error {
	_, err := c.client.DeleteVM(ctx, &backendv1.DeleteVMRequest{Id: id, DeleteDisks: opts.DeleteDisks, Force: opts.Force})
	return plugin.FromStatus(err)
}

func (c *GRPCClient) TailLog(ctx context.Context, id string, n int) (*LogTail, error) {
	resp, err := c.client.TailLog(ctx, &backendv1.TailLogRequest{Id: id, Lines: int32(n)})
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	return LogTailFromProto(resp), nil
}

func (c *GRPCClient) StreamLog(ctx context.Context, id string, offset int64, fn func(LogLine) error) error {
	return c.StreamLogFrom(ctx, id, LogPosition{Offset: offset}, fn)
}

// StreamLogFrom resumes by file (LogResumer); a plugin that does not know
// the file field resumes by the offset alone, as StreamLog.
func (c *GRPCClient) StreamLogFrom(ctx context.Context, id string, from LogPosition, fn func(LogLine) error) error {
	// Cancelling on return ends the plugin's side too when fn fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.StreamLog(ctx, &backendv1.StreamLogRequest{Id: id, Offset: from.Offset, File: from.File})
	if err != nil {
		return plugin.FromStatus(err)
	}
	return recvLoop(ctx, stream.Recv, func(l *backendv1.LogLine) error {
		return fn(LogLine{Text: l.GetText(), Offset: l.GetOffset(), Time: timeFromProto(l.GetTime()), Reopened: l.GetReopened(), File: l.GetFile()})
	})
}

func (c *GRPCClient) WatchEvents(ctx context.Context, fn func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.WatchEvents(ctx, &backendv1.WatchEventsRequest{})
	if err != nil {
		return plugin.FromStatus(err)
	}
	return recvLoop(ctx, stream.Recv, func(e *backendv1.Event) error {
		return fn(eventFromProtoMsg(e))
	})
}

// recvLoop receives from a server stream until it ends. The end of ctx is a
// normal end (nil); an error of fn is returned as is; a stream the plugin
// closed without the caller asking is unavailable.
func recvLoop[T any](ctx context.Context, recv func() (T, error), fn func(T) error) error {
	for {
		msg, err := recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return plugin.Unavailable("plugin closed the stream (%w)", err)
			}
			return plugin.FromStatus(err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// Health asks the plugin whether it can reach its hypervisor. A plugin that
// answers unhealthy gives a plugin.ErrUnavailable error carrying its reason.
func (c *GRPCClient) Health(ctx context.Context) error {
	resp, err := c.client.Health(ctx, &backendv1.HealthRequest{})
	if err != nil {
		return plugin.FromStatus(err)
	}
	if !resp.GetHealthy() {
		return plugin.Unavailable("backend unhealthy: %s", resp.GetMessage())
	}
	return nil
}
