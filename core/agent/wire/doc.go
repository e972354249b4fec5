// Package wire holds what both ends of the agent protocol
// (proto/quantix/agent/v1) share beyond the backend's messages: the metadata
// key of the join token and the conversions of the protocol's own messages
// (errors, the node's backend, times). VMs, specs, host info and log tails
// travel as the backend protocol's messages, converted by sdk/backend.
package wire

// TokenMetadataKey is the gRPC metadata key carrying the join token on every
// call of an agent.
const TokenMetadataKey = "x-quantix-join-token"
