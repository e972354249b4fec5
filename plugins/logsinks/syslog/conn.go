package syslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// maxUDPPayload is the largest UDP datagram payload over IPv4.
const maxUDPPayload = 65507

// errTooLarge marks a message the transport can never carry.
var errTooLarge = errors.New("message too large")

// conn is the connection to the syslog server, dialled when needed and
// dropped after a failure, so that the next send dials again.
type conn struct {
	s *settings
	c net.Conn
}

// ensure dials when there is no connection, and drops a TCP connection the
// server closed (a server that restarted) before dialling again: writing on
// it would seem to succeed and lose the messages.
func (k *conn) ensure(ctx context.Context) error {
	if k.c != nil && k.s.network == NetworkTCP && !alive(k.c) {
		k.drop()
	}
	if k.c != nil {
		return nil
	}
	d := net.Dialer{Timeout: k.s.timeout}
	c, err := d.DialContext(ctx, k.s.network, k.s.address)
	if err != nil {
		return fmt.Errorf("connecting to syslog %s %s: %w", k.s.network, k.s.address, err)
	}
	k.c = c
	return nil
}

// alive reports whether the server has not closed a TCP connection. A
// syslog server sends nothing back, so a peek that would block means alive;
// end of file or an error means closed.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = raw.Read(func(fd uintptr) bool {
		var one [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN):
			open = true
		case rerr == nil:
			open = n > 0 // 0 bytes: the server closed its side
		}
		return true // never wait for readiness
	})
	return err == nil && open
}

// send writes p, a datagram or a run of frames, within the timeout and
// before ctx's deadline. A datagram the socket refuses as too large is
// errTooLarge; after any other failure the connection is dropped.
func (k *conn) send(ctx context.Context, p []byte) error {
	budget := k.s.timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < budget {
		budget = time.Until(d)
	}
	if err := k.c.SetWriteDeadline(time.Now().Add(budget)); err != nil {
		k.drop()
		return fmt.Errorf("sending to syslog %s %s: %w", k.s.network, k.s.address, err)
	}
	_, err := k.c.Write(p)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EMSGSIZE) {
		return fmt.Errorf("%w: %d bytes do not fit in one %s datagram to %s", errTooLarge, len(p), k.s.network, k.s.address)
	}
	k.drop()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("sending to syslog %s %s: no progress within %s", k.s.network, k.s.address, budget.Round(time.Millisecond))
	}
	return fmt.Errorf("sending to syslog %s %s: %w", k.s.network, k.s.address, err)
}

// drop closes the connection.
func (k *conn) drop() {
	if k.c != nil {
		_ = k.c.Close()
		k.c = nil
	}
}
