// Command quantix-backend-simv1 is the simulated backend as a plugin built
// against backend API version 1 would be: it announces and serves version 1
// only, so tests see a host negotiate version 1 with it and never call the
// services of version 2 (the console) on it, though the implementation has
// them. Tests build it with testbin.PackagePlugin.
package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// v1 is the simulated host announcing API version 1 and no capability of
// version 2.
type v1 struct{ *sim.Backend }

func (b v1) Info(ctx context.Context) (plugin.Info, error) {
	info, err := b.Backend.Info(ctx)
	info.APIVersions = []int{1}
	caps := info.Capabilities[:0:0]
	for _, c := range info.Capabilities {
		if c != backend.CapConsole {
			caps = append(caps, c)
		}
	}
	info.Capabilities = caps
	return info, err
}

func main() {
	b := v1{sim.New()}
	plugin.Serve(backend.NewGRPCPlugin(b), func(c *goplugin.ServeConfig) {
		c.VersionedPlugins = map[int]goplugin.PluginSet{1: backend.PluginSets(b)[1]}
	})
	_ = b.Close()
}
