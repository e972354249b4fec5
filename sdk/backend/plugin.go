package backend

import (
	"fmt"
	"os"

	goplugin "github.com/hashicorp/go-plugin"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/grpc"
)

// PluginName is the go-plugin dispense name of a backend.
const PluginName = string(plugin.TypeBackend)

// NewGRPCPlugin returns the go-plugin glue for backends: the host (impl nil)
// dispenses a *GRPCClient, a plugin serves impl.
func NewGRPCPlugin(impl Backend) *plugin.GRPCPlugin {
	p := &plugin.GRPCPlugin{
		Type:        plugin.TypeBackend,
		APIVersions: APIVersions,
		NewClient:   func(c grpc.ClientConnInterface) any { return NewGRPCClient(c) },
	}
	if impl != nil {
		p.Register = func(s *grpc.Server) {
			backendv1.RegisterBackendServer(s, &GRPCServer{Impl: impl})
			registerConsole(s, impl)
			if sc, ok := impl.(StatsCollector); ok {
				backendv1.RegisterStatsServer(s, &StatsServer{Impl: sc})
			}
		}
	}
	return p
}

// PluginSets returns the go-plugin versioned plugin sets for every API version
// in APIVersions, for the host (impl nil) or a plugin.
func PluginSets(impl Backend) map[int]goplugin.PluginSet {
	return NewGRPCPlugin(impl).PluginSets()
}

// Serve runs impl as a backend plugin and returns when the host is done with
// it, after closing impl when it is a Closer. Call it from the plugin's main.
// Started by hand (not by a Quantix host) it prints that the binary is a
// plugin and exits non-zero.
func Serve(impl Backend, opts ...plugin.ServeOption) {
	plugin.Serve(NewGRPCPlugin(impl), opts...)
	if c, ok := impl.(Closer); ok {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "closing backend: %v\n", err)
		}
	}
}
