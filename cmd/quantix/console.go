package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/term"

	"github.com/quantixvm/quantix/client"
)

// escapeByte leaves the console: Ctrl-], as virsh console.
const escapeByte = 0x1d

func vmConsoleCommand() *command {
	return &command{
		name:     "console",
		args:     "NAME",
		summary:  "attach to a running VM's serial console",
		complete: "vm",
		help: `Attaches to the VM's serial console (GET /api/vms/{id}/console, a WebSocket;
the operator role): what the guest writes on its first serial port is printed,
what is typed is sent to it. On a terminal, the terminal is put in raw mode, so
every key (Ctrl-C too) goes to the guest; Ctrl-] leaves, and the terminal is
restored however the console ends.

Stdin may be a pipe instead, for scripts: its bytes are sent as they come,
a Ctrl-] byte (\x1d) in them leaves, and at its end the console stays open
until the console ends (the VM stops) or the command is interrupted.

A console is exclusive: while another user holds it, attaching fails naming
who has held it since when; -force takes it over, and that user's console
ends saying who took it.

Exits 0 when left with Ctrl-] or when the VM stopped; 1 when the console
could not be opened or ended for another reason (taken over, node gone,
server shutting down), with the reason on stderr.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			force := fs.Bool("force", false, "take the console over from another user who holds it")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args, "NAME"); err != nil {
					return err
				}
				return a.console(ctx, args[0], *force)
			}
		},
	}
}

// errLeft: the user left the console with Ctrl-].
var errLeft = errors.New("left the console")

// console runs `quantix vm console`.
func (a *app) console(ctx context.Context, ref string, force bool) error {
	con, err := a.api.OpenConsole(ctx, ref, force)
	if err != nil {
		return err
	}
	defer con.Close()
	t := a.terminal()
	nl := "\n"
	if t.isTTY {
		old, err := term.MakeRaw(t.fd)
		if err != nil {
			return fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
		// Restored on every way out: return, panic, Ctrl-], the console's
		// end, a signal (which cancels ctx).
		defer func() { _ = term.Restore(t.fd, old) }()
		nl = "\r\n"
	}
	fmt.Fprintf(a.stderr, "Connected to the console of vm %s (Ctrl-] to leave)%s", ref, nl)

	ended := make(chan error, 2)
	go func() {
		_, err := io.Copy(a.stdout, con)
		ended <- err
	}()
	go func() {
		ended <- sendKeys(con, t.in)
	}()
	var end error
	select {
	case <-ctx.Done():
		end = ctx.Err()
	case end = <-ended:
		if end == nil {
			// Stdin ended: keep showing the console until it ends.
			select {
			case <-ctx.Done():
				end = ctx.Err()
			case end = <-ended:
			}
		}
	}
	_ = con.Close()
	return a.consoleEnd(ref, end, nl)
}

// sendKeys copies in to con until in ends (nil) or holds Ctrl-] (errLeft).
func sendKeys(con io.Writer, in io.Reader) error {
	buf := make([]byte, 4096)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			i := bytes.IndexByte(chunk, escapeByte)
			if i >= 0 {
				chunk = chunk[:i]
			}
			if len(chunk) > 0 {
				if _, werr := con.Write(chunk); werr != nil {
					return werr
				}
			}
			if i >= 0 {
				return errLeft
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
}

// consoleEnd tells the user how the console ended and returns the error
// the command fails with, nil for a normal end (Ctrl-], the VM stopped).
func (a *app) consoleEnd(ref string, end error, nl string) error {
	var ce *client.ConsoleClosedError
	switch {
	case errors.Is(end, errLeft):
		fmt.Fprintf(a.stderr, "%sLeft the console of vm %s.%s", nl, ref, nl)
		return nil
	case errors.As(end, &ce):
		if status, refused := ce.Refused(); refused {
			msg := fmt.Sprintf("cannot open the console of vm %s: %s", ref, ce.Reason)
			if status == http.StatusConflict && strings.Contains(ce.Reason, "in use by") {
				msg += " (quantix vm console -force " + ref + " takes it over)"
			}
			return errors.New(msg)
		}
		fmt.Fprintf(a.stderr, "%sThe console of vm %s ended: %s.%s", nl, ref, ce.Reason, nl)
		if ce.Code == client.ConsoleVMStopped || ce.Code == 1000 {
			return nil
		}
		return fmt.Errorf("the console of vm %s ended: %s (code %d)", ref, ce.Reason, ce.Code)
	case errors.Is(end, context.Canceled):
		fmt.Fprintf(a.stderr, "%sLeft the console of vm %s (interrupted).%s", nl, ref, nl)
		return nil
	case end == nil || errors.Is(end, io.EOF):
		fmt.Fprintf(a.stderr, "%sThe console of vm %s ended.%s", nl, ref, nl)
		return nil
	}
	return fmt.Errorf("the console of vm %s: %w", ref, end)
}
