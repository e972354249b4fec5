package backend

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// PluginName is the go-plugin dispense name of a backend.
const PluginName = string(plugin.TypeBackend)

// GRPCPlugin is the go-plugin glue for backends: the host dispenses a
// *GRPCClient, the plugin serves Impl.
type GRPCPlugin struct {
	// Plugin is embedded nil: backends speak gRPC only, never net/rpc.
	goplugin.Plugin
	// Impl is set on the plugin side only.
	Impl Backend
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the backend service.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	backendv1.RegisterBackendServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns the host-side client.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// PluginSets returns the go-plugin versioned plugin sets for every API version
// in APIVersions, for the host (impl nil) or a plugin.
func PluginSets(impl Backend) map[int]goplugin.PluginSet {
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

// Serve runs impl as a backend plugin and returns when the host is done with
// it. Call it from the plugin's main. Started by hand (not by a Quantix host)
// it prints that the binary is a plugin and exits non-zero.
func Serve(impl Backend, opts ...ServeOption) {
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
	if c, ok := impl.(Closer); ok {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "closing backend: %v\n", err)
		}
	}
}
