// Package stats keeps the resource statistics of VMs and nodes on a
// server: the samples agents send (backend counters of every VM of a node
// at once) become rates from counter deltas (CPU cores used, disk and
// network bytes, operations and packets per second) and memory, kept at
// full resolution for a recent window in memory, averaged per history step
// into the store (kept for the retention), exported on /metrics for a
// bounded number of VMs.
//
// In a cluster each server receives the samples of the nodes whose agents
// it holds: its window covers those nodes only, while the history in the
// store is every server's. Reads at the history step and coarser answer
// the same on every server; finer reads of a node held elsewhere fall
// back to the history step (the answer says which step it has).
package stats
