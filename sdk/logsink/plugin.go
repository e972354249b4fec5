package logsink

import (
	"context"
	"fmt"
	"os"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	logsinkv1 "github.com/quantixvm/quantix/proto/quantix/logsink/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// PluginName is the go-plugin dispense name of a log sink.
const PluginName = string(plugin.TypeLogSink)

// CloseTimeout bounds the Close that Serve calls when the host is done with
// the plugin.
const CloseTimeout = 30 * time.Second

// NewGRPCPlugin returns the go-plugin glue for log sinks: the host (impl
// nil) dispenses a *GRPCClient, a plugin serves impl.
func NewGRPCPlugin(impl Sink) *plugin.GRPCPlugin {
	p := &plugin.GRPCPlugin{
		Type:        plugin.TypeLogSink,
		APIVersions: APIVersions,
		NewClient:   func(c grpc.ClientConnInterface) any { return NewGRPCClient(c) },
	}
	if impl != nil {
		p.Register = func(s *grpc.Server) { logsinkv1.RegisterLogSinkServer(s, &GRPCServer{Impl: impl}) }
	}
	return p
}

// PluginSets returns the go-plugin versioned plugin sets for every API version
// in APIVersions, for the host (impl nil) or a plugin.
func PluginSets(impl Sink) map[int]goplugin.PluginSet {
	return NewGRPCPlugin(impl).PluginSets()
}

// Serve runs impl as a log sink plugin and returns when the host is done
// with it, after closing impl so that what it buffers reaches its
// destination. Call it from the plugin's main. Started by hand (not by a
// Quantix host) it prints that the binary is a plugin and exits non-zero.
func Serve(impl Sink, opts ...plugin.ServeOption) {
	plugin.Serve(NewGRPCPlugin(impl), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := impl.Close(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "closing log sink: %v\n", err)
	}
}
