package plugin

import (
	"context"
	"net/rpc"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCPlugin is the go-plugin glue of a plugin type: on the plugin's side it
// registers the type's gRPC service, on the host's it wraps the connection
// in the type's client. Each type builds one (backend.NewGRPCPlugin,
// logsink.NewGRPCPlugin); everything else about go-plugin is here, the same
// for every type.
type GRPCPlugin struct {
	// Type is the plugin type; its name is the go-plugin dispense name.
	Type Type
	// APIVersions are the API versions of the type served, each a go-plugin
	// protocol version the handshake negotiates.
	APIVersions []int
	// Register registers the type's service, answered by the plugin's
	// implementation. It is nil on the host's side.
	Register func(*grpc.Server)
	// NewClient wraps a connection to the plugin in the type's client.
	NewClient func(grpc.ClientConnInterface) any
}

var (
	_ goplugin.Plugin     = (*GRPCPlugin)(nil)
	_ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)
)

// GRPCServer registers the type's service on the plugin's side.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Register == nil {
		return &Error{Kind: KindInternal, Message: string(p.Type) + " plugin: the glue has no implementation to serve; build it with the plugin's implementation"}
	}
	p.Register(s)
	return nil
}

// GRPCClient returns the type's client on the host's side.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.NewClient(c), nil
}

// Server is go-plugin's net/rpc side, which Quantix plugins do not speak:
// it returns an error saying so.
func (p *GRPCPlugin) Server(*goplugin.MuxBroker) (any, error) { return nil, p.netRPC() }

// Client is go-plugin's net/rpc side, which Quantix plugins do not speak:
// it returns an error saying so.
func (p *GRPCPlugin) Client(*goplugin.MuxBroker, *rpc.Client) (any, error) {
	return nil, p.netRPC()
}

func (p *GRPCPlugin) netRPC() error {
	return &Error{Kind: KindUnsupported, Message: string(p.Type) + " plugin: Quantix plugins speak gRPC only, not go-plugin's net/rpc; set AllowedProtocols to go-plugin's ProtocolGRPC where the plugin is launched"}
}

// PluginSets returns go-plugin's versioned plugin sets: the glue under the
// type's name at every API version of p.
func (p *GRPCPlugin) PluginSets() map[int]goplugin.PluginSet {
	sets := make(map[int]goplugin.PluginSet, len(p.APIVersions))
	for _, v := range p.APIVersions {
		sets[v] = goplugin.PluginSet{string(p.Type): p}
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

// Serve serves the plugin p glues and returns when the host is done with
// it. The Serve of each plugin type calls it from the plugin's main. Started
// by hand (not by a Quantix host) it prints that the binary is a plugin and
// exits non-zero.
func Serve(p *GRPCPlugin, opts ...ServeOption) {
	cfg := &goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: p.PluginSets(),
		GRPCServer:       GRPCServer,
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
}
