// Package nodeapi is what the control plane and the nodes' agents exchange,
// as Go types and two interfaces:
//
//   - Executor carries a Command to a node and brings back what its host
//     reports afterwards (Result); the control plane's VM service sends
//     commands through one.
//   - ReportHandler applies what agents push: registrations, full syncs,
//     single changes and heartbeats; the control plane's Reconciler is one.
//
// The agent server (core/agentserver) implements Executor over the agent
// protocol (proto/quantix/agent/v1) and calls a ReportHandler; the control
// plane (core/controlplane) implements ReportHandler and calls an
// Executor. Neither imports the other: both import this package.
package nodeapi
