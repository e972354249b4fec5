package plugin

import (
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is the go-plugin handshake every Quantix plugin and the host
// share. A binary started without the magic cookie set prints that it is a
// plugin and exits non-zero.
var Handshake = goplugin.HandshakeConfig{
	// ProtocolVersion is go-plugin's own; Quantix API versions are negotiated
	// through VersionedPlugins (see APIVersions of each plugin type). A
	// change that breaks the wire of a plugin type (a method renamed or moved
	// to another service, a field renumbered or retyped, Info and Configure
	// of proto/quantix/plugin/v1/base.proto included) is a new API version
	// of that type. Moving Info and Configure's messages into base.proto kept
	// their method names and field numbers, so the versions stayed.
	ProtocolVersion:  1,
	MagicCookieKey:   "QUANTIX_PLUGIN",
	MagicCookieValue: "d1c2f0a4-quantix-plugin",
}

// MaxMessageSize is the largest gRPC message either side accepts. Listing a
// host with thousands of VMs or tailing thousands of log lines needs more than
// gRPC's 4 MiB default.
const MaxMessageSize = 256 << 20

// GRPCServerOptions are the options plugin servers are built with.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		// Reusing stream workers saves a goroutine start per call, which
		// is measurable on the latency of small calls.
		grpc.NumStreamWorkers(4),
	}
}

// GRPCDialOptions are the options the host dials plugins with.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
}

// GRPCServer is a go-plugin ServeConfig.GRPCServer that applies
// GRPCServerOptions on top of what go-plugin asks for (TLS, for AutoMTLS).
func GRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, GRPCServerOptions()...)...)
}
