package logsink

import (
	"context"

	logsinkv1 "github.com/quantixvm/quantix/proto/quantix/logsink/v1"
	pluginv1 "github.com/quantixvm/quantix/proto/quantix/plugin/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// GRPCServer serves a Sink over gRPC. Plugins do not use it directly; Serve
// wires it up.
type GRPCServer struct {
	logsinkv1.UnimplementedLogSinkServer
	Impl Sink
}

var _ logsinkv1.LogSinkServer = (*GRPCServer)(nil)

// Info answers with the sink's Info.
func (s *GRPCServer) Info(ctx context.Context, _ *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	return plugin.ServeInfo(ctx, s.Impl)
}

// Configure passes the config block on.
func (s *GRPCServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return plugin.ServeConfigure(ctx, s.Impl, req)
}

// Write validates the entries, hands the valid ones to the sink and answers
// one result per entry of the request. A sink that answers a wrong number
// of results fails the call with an internal error.
func (s *GRPCServer) Write(ctx context.Context, req *logsinkv1.WriteRequest) (*logsinkv1.WriteResponse, error) {
	results, err := write(ctx, entriesFromProto(req.GetEntries()), s.Impl.Write)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &logsinkv1.WriteResponse{Results: resultsToProto(results)}, nil
}

// Flush calls the sink's Flusher; a sink without one has nothing to flush.
func (s *GRPCServer) Flush(ctx context.Context, _ *logsinkv1.FlushRequest) (*logsinkv1.FlushResponse, error) {
	if f, ok := s.Impl.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			return nil, plugin.ToStatus(err)
		}
	}
	return &logsinkv1.FlushResponse{}, nil
}

// Close closes the sink.
func (s *GRPCServer) Close(ctx context.Context, _ *logsinkv1.CloseRequest) (*logsinkv1.CloseResponse, error) {
	if err := s.Impl.Close(ctx); err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &logsinkv1.CloseResponse{}, nil
}
