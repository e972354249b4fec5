// Package plugin holds what every Quantix plugin shares, whatever its type:
// the go-plugin handshake, the plugin's self-description, API-version
// negotiation, typed errors that survive the gRPC boundary and strict decoding
// of a plugin's `config {}` block.
package plugin
