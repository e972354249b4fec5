// Package wire holds what both ends of the agent protocol
// (proto/quantix/agent/v1) share beyond the backend's messages: the
// conversions of the protocol's own messages (errors, the node's backend,
// times). VMs, specs, host info and log tails
// travel as the backend protocol's messages, converted by sdk/backend.
package wire
