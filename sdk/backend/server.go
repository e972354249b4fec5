package backend

import (
	"context"
	"time"

	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	pluginv1 "github.com/quantixvm/quantix/proto/quantix/plugin/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// GRPCServer serves a Backend over gRPC. Plugins do not use it directly;
// Serve wires it up.
type GRPCServer struct {
	backendv1.UnimplementedBackendServer
	Impl Backend
}

var _ backendv1.BackendServer = (*GRPCServer)(nil)

// Info answers with the backend's Info, with the capabilities of the
// optional services served for it (CapConsole for a ConsoleOpener, CapStats
// for a StatsCollector) added when it does not list them itself.
func (s *GRPCServer) Info(ctx context.Context, _ *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	resp, err := plugin.ServeInfo(ctx, s.Impl)
	if err != nil {
		return nil, err
	}
	resp.Capabilities = withServedCapabilities(resp.Capabilities, s.Impl)
	return resp, nil
}

// StatsServer serves a StatsCollector over gRPC; Serve registers it when
// the backend has the interface.
type StatsServer struct {
	backendv1.UnimplementedStatsServer
	Impl StatsCollector
}

// CollectStats answers with one sample of every VM.
func (s *StatsServer) CollectStats(ctx context.Context, _ *backendv1.CollectStatsRequest) (*backendv1.HostStats, error) {
	h, err := s.Impl.CollectStats(ctx)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return HostStatsToProto(h), nil
}

// Configure passes the config block on.
func (s *GRPCServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return plugin.ServeConfigure(ctx, s.Impl, req)
}

func (s *GRPCServer) HostInfo(ctx context.Context, _ *backendv1.HostInfoRequest) (*backendv1.HostInfo, error) {
	h, err := s.Impl.HostInfo(ctx)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return HostInfoToProto(h), nil
}

func (s *GRPCServer) ListVMs(ctx context.Context, _ *backendv1.ListVMsRequest) (*backendv1.ListVMsResponse, error) {
	vms, err := s.Impl.ListVMs(ctx)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	resp := &backendv1.ListVMsResponse{Vms: make([]*backendv1.VM, 0, len(vms))}
	for _, v := range vms {
		resp.Vms = append(resp.Vms, VMToProto(v))
	}
	return resp, nil
}

func (s *GRPCServer) GetVM(ctx context.Context, req *backendv1.GetVMRequest) (*backendv1.GetVMResponse, error) {
	vm, err := s.Impl.GetVM(ctx, req.GetId())
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &backendv1.GetVMResponse{Vm: VMToProto(vm)}, nil
}

func (s *GRPCServer) CreateVM(ctx context.Context, req *backendv1.CreateVMRequest) (*backendv1.CreateVMResponse, error) {
	vm, err := s.Impl.CreateVM(ctx, SpecFromProto(req.GetSpec()))
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &backendv1.CreateVMResponse{Vm: VMToProto(vm)}, nil
}

func actionReply(vm *VM, err error) (*backendv1.VMActionResponse, error) {
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &backendv1.VMActionResponse{Vm: VMToProto(vm)}, nil
}

func (s *GRPCServer) StartVM(ctx context.Context, req *backendv1.VMActionRequest) (*backendv1.VMActionResponse, error) {
	return actionReply(s.Impl.StartVM(ctx, req.GetId()))
}

func (s *GRPCServer) StopVM(ctx context.Context, req *backendv1.StopVMRequest) (*backendv1.VMActionResponse, error) {
	opts := StopOptions{Force: req.GetForce(), Timeout: time.Duration(req.GetTimeoutMs()) * time.Millisecond}
	return actionReply(s.Impl.StopVM(ctx, req.GetId(), opts))
}

func (s *GRPCServer) RebootVM(ctx context.Context, req *backendv1.VMActionRequest) (*backendv1.VMActionResponse, error) {
	return actionReply(s.Impl.RebootVM(ctx, req.GetId()))
}

func (s *GRPCServer) PauseVM(ctx context.Context, req *backendv1.VMActionRequest) (*backendv1.VMActionResponse, error) {
	return actionReply(s.Impl.PauseVM(ctx, req.GetId()))
}

func (s *GRPCServer) ResumeVM(ctx context.Context, req *backendv1.VMActionRequest) (*backendv1.VMActionResponse, error) {
	return actionReply(s.Impl.ResumeVM(ctx, req.GetId()))
}

func (s *GRPCServer) DeleteVM(ctx context.Context, req *backendv1.DeleteVMRequest) (*backendv1.DeleteVMResponse, error) {
	opts := DeleteOptions{DeleteDisks: req.GetDeleteDisks(), Force: req.GetForce()}
	if err := s.Impl.DeleteVM(ctx, req.GetId(), opts); err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &backendv1.DeleteVMResponse{}, nil
}

func (s *GRPCServer) TailLog(ctx context.Context, req *backendv1.TailLogRequest) (*backendv1.LogTail, error) {
	t, err := s.Impl.TailLog(ctx, req.GetId(), int(req.GetLines()))
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return LogTailToProto(t), nil
}

func (s *GRPCServer) StreamLog(req *backendv1.StreamLogRequest, stream backendv1.Backend_StreamLogServer) error {
	send := func(l LogLine) error {
		return sendUnlessDone(stream.Context(), stream.Send(&backendv1.LogLine{Text: l.Text, Offset: l.Offset, Time: timestamppb.New(l.Time), Reopened: l.Reopened, File: l.File}))
	}
	var err error
	if r, ok := s.Impl.(LogResumer); ok && req.GetFile() != "" {
		err = r.StreamLogFrom(stream.Context(), req.GetId(), LogPosition{File: req.GetFile(), Offset: req.GetOffset()}, send)
	} else {
		err = s.Impl.StreamLog(stream.Context(), req.GetId(), req.GetOffset(), send)
	}
	return plugin.ToStatus(err)
}

func (s *GRPCServer) WatchEvents(_ *backendv1.WatchEventsRequest, stream backendv1.Backend_WatchEventsServer) error {
	err := s.Impl.WatchEvents(stream.Context(), func(e Event) error {
		return sendUnlessDone(stream.Context(), stream.Send(eventToProtoMsg(e)))
	})
	if stream.Context().Err() != nil {
		return nil
	}
	return plugin.ToStatus(err)
}

// Health answers with the backend's HealthChecker when it has one; a backend
// without one is healthy as long as it answers.
func (s *GRPCServer) Health(ctx context.Context, _ *backendv1.HealthRequest) (*backendv1.HealthResponse, error) {
	hc, ok := s.Impl.(HealthChecker)
	if !ok {
		return &backendv1.HealthResponse{Healthy: true}, nil
	}
	if err := hc.Health(ctx); err != nil {
		return &backendv1.HealthResponse{Healthy: false, Message: err.Error()}, nil
	}
	return &backendv1.HealthResponse{Healthy: true}, nil
}

// sendUnlessDone hides a send error caused by the caller going away: once the
// stream's context has ended the backend is about to return nil anyway (the
// contract of StreamLog and WatchEvents), and must not report the transport's
// cancellation as its own failure.
func sendUnlessDone(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}
