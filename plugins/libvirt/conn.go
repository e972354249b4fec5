package libvirt

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Keepalive settings: a libvirtd that does not answer for about 20 s is
// considered gone.
const (
	keepAliveInterval = 5
	keepAliveCount    = 3
)

// Reconnect backoff.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

var (
	eventLoopOnce sync.Once
	eventLoopErr  error
)

// startEventLoop registers libvirt's default event loop, which must happen
// before any connection is opened, and runs it forever in a goroutine.
func startEventLoop() error {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoopErr = fmt.Errorf("registering the libvirt event loop: %w", err)
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	})
	return eventLoopErr
}

// connHooks are what a connection reports to its owner.
type connHooks struct {
	// event receives domain lifecycle and reboot events; it runs on
	// libvirt's event loop and must not block.
	event func(ev rawEvent)
	// reconnected runs after a dropped connection was opened again.
	reconnected func()
}

// connection owns the libvirt connection: it opens it, watches it and opens
// it again with backoff when libvirtd goes away.
type connection struct {
	uri   string
	log   hclog.Logger
	hooks connHooks

	mu       sync.RWMutex
	conn     *libvirt.Connect
	cbIDs    []int
	lastErr  error
	closed   bool
	dropping bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// dial opens the connection to uri and registers its callbacks.
func dial(uri string, log hclog.Logger, hooks connHooks) (*connection, error) {
	c := &connection{uri: uri, log: log, hooks: hooks, done: make(chan struct{})}
	conn, ids, err := c.open()
	if err != nil {
		return nil, err
	}
	c.conn, c.cbIDs = conn, ids
	return c, nil
}

func (c *connection) open() (*libvirt.Connect, []int, error) {
	conn, err := libvirt.NewConnect(c.uri)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", c.uri, err)
	}
	if err := conn.SetKeepAlive(keepAliveInterval, keepAliveCount); err != nil && !hasCode(err, libvirt.ERR_NO_SUPPORT) {
		c.log.Debug("keepalive not set", "uri", c.uri, "error", err)
	}
	if err := conn.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		c.onClose(conn, reason)
	}); err != nil {
		c.log.Debug("close callback not registered", "uri", c.uri, "error", err)
	}
	ids, err := c.registerEvents(conn)
	if err != nil {
		_ = conn.UnregisterCloseCallback()
		_, _ = conn.Close()
		return nil, nil, fmt.Errorf("registering event callbacks on %s: %w", c.uri, err)
	}
	return conn, ids, nil
}

func (c *connection) registerEvents(conn *libvirt.Connect) ([]int, error) {
	life, err := conn.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
		c.hooks.event(newRawEvent(d, rawLifecycle, ev.Event, ev.Detail))
	})
	if err != nil {
		return nil, err
	}
	reboot, err := conn.DomainEventRebootRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain) {
		c.hooks.event(newRawEvent(d, rawReboot, 0, 0))
	})
	if err != nil {
		_ = conn.DomainEventDeregister(life)
		return nil, err
	}
	return []int{life, reboot}, nil
}

// closeReasons name libvirt's reasons for closing a connection.
var closeReasons = map[libvirt.ConnectCloseReason]string{
	libvirt.CONNECT_CLOSE_REASON_ERROR:     "error",
	libvirt.CONNECT_CLOSE_REASON_EOF:       "end of file",
	libvirt.CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive timeout",
	libvirt.CONNECT_CLOSE_REASON_CLIENT:    "closed by client",
}

// onClose runs on libvirt's event loop when conn breaks: it must not block,
// so the reconnect runs in its own goroutine.
func (c *connection) onClose(conn *libvirt.Connect, reason libvirt.ConnectCloseReason) {
	c.log.Warn("libvirt connection closed", "uri", c.uri, "reason", closeReasons[reason])
	go c.drop(conn, fmt.Errorf("connection to %s closed: %s", c.uri, closeReasons[reason]))
}

// acquire returns the live connection with a reference the caller gives back
// by calling release, or an unavailable error while it is down.
func (c *connection) acquire() (*libvirt.Connect, func(), error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, nil, plugin.Unavailable("libvirt connection to %s is closed", c.uri)
	}
	if c.conn == nil {
		return nil, nil, plugin.Unavailable("libvirt connection to %s is down (%w); reconnecting", c.uri, c.lastErr)
	}
	conn := c.conn
	if err := conn.Ref(); err != nil {
		return nil, nil, plugin.Unavailable("libvirt connection to %s: %w", c.uri, err)
	}
	return conn, func() { _, _ = conn.Close() }, nil
}

// check looks at an error of an operation on conn: when it says the
// connection is broken, the connection is dropped and reopened.
func (c *connection) check(conn *libvirt.Connect, err error) {
	if err == nil || !isConnectionError(err) {
		return
	}
	if alive, aerr := conn.IsAlive(); aerr == nil && alive {
		return
	}
	go c.drop(conn, err)
}

// drop forgets a broken connection and reconnects in the background.
func (c *connection) drop(old *libvirt.Connect, cause error) {
	c.mu.Lock()
	if c.closed || c.conn != old || c.dropping {
		c.mu.Unlock()
		return
	}
	c.conn, c.lastErr, c.dropping = nil, cause, true
	ids := c.cbIDs
	c.cbIDs = nil
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	c.release(old, ids)
	c.reconnect()
}

func (c *connection) release(conn *libvirt.Connect, ids []int) {
	for _, id := range ids {
		_ = conn.DomainEventDeregister(id)
	}
	_ = conn.UnregisterCloseCallback()
	_, _ = conn.Close()
}

// reconnect opens the connection again with exponential backoff until it
// works or the connection is closed.
func (c *connection) reconnect() {
	delay := reconnectMin
	for attempt := 1; ; attempt++ {
		select {
		case <-c.done:
			return
		case <-time.After(delay):
		}
		conn, ids, err := c.open()
		if err != nil {
			c.log.Debug("reconnecting to libvirt failed", "uri", c.uri, "attempt", attempt, "error", err)
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			delay = min(delay*2, reconnectMax)
			continue
		}
		if !c.install(conn, ids) {
			return
		}
		c.log.Info("reconnected to libvirt", "uri", c.uri, "attempts", attempt)
		c.hooks.reconnected()
		return
	}
}

// install makes a reopened connection current, unless the connection was
// closed meanwhile: then it is released (outside the lock, as libvirt may
// need its event loop, whose close callback takes the lock).
func (c *connection) install(conn *libvirt.Connect, ids []int) bool {
	c.mu.Lock()
	c.dropping = false
	closed := c.closed
	if !closed {
		c.conn, c.cbIDs, c.lastErr = conn, ids, nil
	}
	c.mu.Unlock()
	if closed {
		c.release(conn, ids)
	}
	return !closed
}

// up reports whether the connection is open right now.
func (c *connection) up() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.conn != nil
}

// close closes the connection for good and waits for a reconnect under way.
func (c *connection) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	conn, ids := c.conn, c.cbIDs
	c.conn, c.cbIDs = nil, nil
	c.mu.Unlock()
	c.wg.Wait()
	if conn != nil {
		c.release(conn, ids)
	}
	return nil
}

// waitUp waits until the connection is open or ctx ends.
func (c *connection) waitUp(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !c.up() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
