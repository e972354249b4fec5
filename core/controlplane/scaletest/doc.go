// Package scaletest runs the control plane with many node agents in one
// process: a real agent server on loopback, the real Reconciler on SQLite
// and on PostgreSQL, the REST API on loopback, and one agent per simulated
// host (plugins/sim, linked in-process). It holds tests and benchmarks
// only:
//
//   - TestAgentsStayApart: three agents; changes on one node never touch
//     another node's VMs, and a VM moving between nodes stays one record.
//   - BenchmarkScale: 200 agents × 250 VMs; the time until every node's
//     full sync is applied, the CPU the steady heartbeats cost, and the
//     latency of a list page of 100 VMs meanwhile (go test -bench Scale).
package scaletest
