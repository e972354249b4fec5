// Package events is the stream of VM and node changes that GET /api/events
// serves. The control plane publishes every VM event on a Broker once its
// transaction has committed, together with the node changes and the
// removals of unmanaged records, which are not VM events (memory-only
// events: the control plane stores node changes apart, with their
// position, but the stream does not read them back).
//
// Subscribers resume from a Position: exactly from the broker's ring while
// it holds that position, otherwise VM events are read back from the store
// (History) and node events in between are reported missing by a gap
// marker. A subscriber that falls behind loses events, gets a gap marker,
// and never slows the writers.
//
// With several servers on one PostgreSQL database the control plane
// publishes on a core/clusterbus.Bus (a Publisher) instead of the broker:
// the bus feeds the changes of every server to every broker in one order,
// so that a position taken on one server resumes on another. A stream
// resumed from a position its broker does not hold (older than its ring,
// or ahead of what this server has published yet) leaves out what the
// client has: VM events up to the last replayed, node events before the
// position.
//
// The package knows nothing of the control plane: it takes stored VM
// events (vm.Event) and node changes, and reads history through History.
package events
