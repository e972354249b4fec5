// Package wire holds what both ends of the agent protocol
// (proto/quantix/agent/v1) share: the metadata key of the join token and the
// conversions between the protocol's messages and the sdk/backend and
// core/node types each side works with.
package wire

// TokenMetadataKey is the gRPC metadata key carrying the join token on every
// call of an agent.
const TokenMetadataKey = "x-quantix-join-token"
