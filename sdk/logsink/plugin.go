package logsink

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
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

// GRPCPlugin is the go-plugin glue for log sinks: the host dispenses a
// *GRPCClient, the plugin serves Impl.
type GRPCPlugin struct {
	// Plugin is embedded nil: sinks speak gRPC only, never net/rpc.
	goplugin.Plugin
	// Impl is set on the plugin side only.
	Impl Sink
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the log sink service.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	logsinkv1.RegisterLogSinkServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns the host-side client.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// PluginSets returns the go-plugin versioned plugin sets for every API version
// in APIVersions, for the host (impl nil) or a plugin.
func PluginSets(impl Sink) map[int]goplugin.PluginSet {
	sets := make(map[int]goplugin.PluginSet, len(APIVersions))
	for _, v := range APIVersions {
		sets[v] = goplugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
	}
	return sets
}

// ServeOption tunes Serve.
type ServeOption func(*goplugin.ServeConfig)

// WithLogger sets the logger go-plugin uses; the host re-logs what it writes
// under the plugin's name.
func WithLogger(l hclog.Logger) ServeOption {
	return func(c *goplugin.ServeConfig) { c.Logger = l }
}

// Serve runs impl as a log sink plugin and returns when the host is done
// with it, after closing impl so that what it buffers reaches its
// destination. Call it from the plugin's main. Started by hand (not by a
// Quantix host) it prints that the binary is a plugin and exits non-zero.
func Serve(impl Sink, opts ...ServeOption) {
	cfg := &goplugin.ServeConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: PluginSets(impl),
		GRPCServer:       plugin.GRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Trace,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	}
	for _, o := range opts {
		o(cfg)
	}
	goplugin.Serve(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := impl.Close(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "closing log sink: %v\n", err)
	}
}
