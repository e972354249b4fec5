// Package plugin holds what every Quantix plugin shares, whatever its type:
// the go-plugin handshake and glue (GRPCPlugin, Serve), the Describer and
// Configurer every type implements and their Info and Configure calls over
// gRPC, the plugin's self-description, API-version negotiation, typed errors
// that survive the gRPC boundary and strict decoding of a plugin's
// `config {}` block. Each plugin type (sdk/backend, sdk/logsink) adds its
// own service on top.
package plugin
