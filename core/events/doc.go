// Package events is the stream of VM and node changes that GET /api/events
// serves. The control plane publishes every VM event on a Broker once its
// transaction has committed, together with the node changes and the
// removals of unmanaged records, which the store does not keep (they live
// in memory only).
//
// Subscribers resume from a Position: exactly from the broker's ring while
// it holds that position, otherwise VM events are read back from the store
// (History) and node events in between are reported missing by a gap
// marker. A subscriber that falls behind loses events, gets a gap marker,
// and never slows the writers. Each server streams the changes it makes;
// events another server writes reach its subscribers only through a resume
// from the store.
//
// The package knows nothing of the control plane: it takes stored VM
// events (vm.Event) and node changes, and reads history through History.
package events
