package sim

import (
	"context"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
)

// DefaultEventBuffer is how many events each WatchEvents call may have
// waiting before the backend drops them and sends an EventResync instead.
const DefaultEventBuffer = eventhub.DefaultBuffer

// publish hands ev to every WatchEvents call without waiting for any. While
// the simulated hypervisor connection is down, events are lost for
// everyone, as they are with a real one; Reconnect sends an EventResync.
func (b *Backend) publish(ev backend.Event) {
	b.observeConsoles(ev)
	if b.down.Load() {
		return
	}
	b.hub.Publish(ev)
}

// WatchEvents calls fn for each lifecycle event until ctx ends or fn fails:
// created, state_changed and deleted for every change of every VM, whether
// made through the Backend or by a script, and EventResync when events
// were lost (the subscriber fell behind, the connection came back, or
// Resync was called).
func (b *Backend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	if _, err := b.current("watching events"); err != nil {
		return err
	}
	return b.hub.Watch(ctx, fn)
}
