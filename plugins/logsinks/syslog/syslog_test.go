package syslog_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// write writes entries and returns the results, failing t on an error of
// the whole call.
func write(t testing.TB, s logsink.Sink, entries ...logsink.Entry) []logsink.Result {
	t.Helper()
	results, err := s.Write(context.Background(), entries)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return results
}

func mustDeliver(t testing.TB, s logsink.Sink, entries ...logsink.Entry) {
	t.Helper()
	for i, r := range write(t, s, entries...) {
		if !r.Delivered() {
			t.Fatalf("entry %s: %s, want delivered", entries[i].ID, r)
		}
	}
}

// TestHeaderFields checks, as rsyslogd parsed them, the PRI of every level
// with a configured facility, HOSTNAME, APP-NAME, PROCID, MSGID and the byte
// order mark before non-ASCII messages, over each network.
func TestHeaderFields(t *testing.T) {
	r := startRsyslogd(t)
	inputs := map[string]string{"udp": "imudp", "tcp": "imtcp", "unix": "imuxsock"}
	severities := map[logsink.Level]int{logsink.LevelDebug: 7, logsink.LevelInfo: 6, logsink.LevelWarn: 4, logsink.LevelError: 3}
	for network, input := range inputs {
		t.Run(network, func(t *testing.T) {
			cfg := settingsFor(r, network)
			cfg["facility"] = "auth"
			cfg["hostname"] = "qx-host.example"
			cfg["app_name"] = "quantix-test"
			s := configured(t, cfg)
			var batch []logsink.Entry
			var ids []string
			for i, level := range logsink.Levels {
				e := entry(fmt.Sprintf("hdr-%s-%d-%d", network, i, time.Now().UnixNano()))
				e.Level = level
				e.Source = logsink.Sources[i]
				if i%2 == 1 {
					e.Message = "déjà vu"
				}
				batch = append(batch, e)
				ids = append(ids, e.ID)
			}
			mustDeliver(t, s, batch...)
			got := await(t, r, ids...)
			for _, e := range batch {
				rec := got[e.ID]
				if want := 4*8 + severities[e.Level]; rec.Pri != want {
					t.Errorf("%s: PRI %d, want %d (facility auth, level %s)", e.ID, rec.Pri, want, e.Level)
				}
				if rec.Host != "qx-host.example" || rec.App != "quantix-test" || rec.ProcID != "-" || rec.MsgID != string(e.Source) {
					t.Errorf("%s: host %q app %q procid %q msgid %q, want qx-host.example, quantix-test, -, %s", e.ID, rec.Host, rec.App, rec.ProcID, rec.MsgID, e.Source)
				}
				if rec.Input != input {
					t.Errorf("%s: came in through %s, want %s", e.ID, rec.Input, input)
				}
				hasBOM := strings.HasPrefix(rec.Msg, "\uFEFF")
				if ascii := e.Message == "vm started"; hasBOM == ascii {
					t.Errorf("%s: message %q: byte order mark %v, want it only before non-ASCII text", e.ID, rec.Msg, hasBOM)
				}
			}
		})
	}
}

// TestTCPServerRestart restarts rsyslogd between two Writes: the sink must
// notice that the server closed the connection and send the second batch
// on a new one instead of losing it. While the server is down, entries are
// retryable.
func TestTCPServerRestart(t *testing.T) {
	r := startRsyslogd(t)
	s := configured(t, settingsFor(r, "tcp"))
	stamp := time.Now().UnixNano()
	id := func(label string) string { return fmt.Sprintf("restart-%s-%d", label, stamp) }
	mustDeliver(t, s, entry(id("first")))
	await(t, r, id("first"))

	r.stop(t)
	r.start(t)
	mustDeliver(t, s, entry(id("after-restart")))
	await(t, r, id("after-restart"))

	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
	r.cmd = nil
	for i, res := range write(t, s, entry(id("down-1")), entry(id("down-2"))) {
		if res.Outcome != logsink.Retryable || !strings.Contains(res.Message, "connect") {
			t.Errorf("entry %d while rsyslogd is killed: %s, want retryable saying it cannot connect", i, res)
		}
	}
	r.start(t)
	mustDeliver(t, s, entry(id("down-1")), entry(id("down-2")))
	await(t, r, id("down-1"), id("down-2"))
}

// TestTCPFraming reads what the sink sends over tcp with a plain listener:
// octet-counting frames, messages with their line feeds inside.
func TestTCPFraming(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	received := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var all []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil || strings.Count(string(all), "<") >= 2 && strings.HasSuffix(string(all), "two") {
				break
			}
		}
		received <- all
	}()
	s := configured(t, map[string]any{"network": "tcp", "address": l.Addr().String(), "hostname": "h"})
	one, two := entry("frame-1"), entry("frame-2")
	one.Message = "line one\nline two"
	two.Message, two.Component, two.VMID = "two", "", ""
	mustDeliver(t, s, one, two)
	got := string(<-received)
	m1 := `<134>1 2026-01-18T10:00:00.123456Z h quantix - audit [quantix@32473 id="frame-1" component="vm" vm_id="6809e7d9-0c5b-4d6f-9a4e-2f0e1c3b5a7d"] line one` + "\n" + `line two`
	m2 := `<134>1 2026-01-18T10:00:00.123456Z h quantix - audit [quantix@32473 id="frame-2"] two`
	want := fmt.Sprintf("%d %s%d %s", len(m1), m1, len(m2), m2)
	if got != want {
		t.Errorf("the server received\n%q\nwant\n%q", got, want)
	}
}

// TestTCPWriteTimeout sends to a server that accepts and never reads: once
// the socket buffers are full the batch is retryable after the timeout.
func TestTCPWriteTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			conns <- c
		}
	}()
	s := configured(t, map[string]any{"network": "tcp", "address": l.Addr().String(), "timeout": "300ms"})
	batch := make([]logsink.Entry, 2000)
	for i := range batch {
		batch[i] = entry(fmt.Sprintf("stuck-%d", i))
		batch[i].Message = strings.Repeat("m", 8192)
	}
	start := time.Now()
	results := write(t, s, batch...)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Write took %s with a 300ms timeout", took)
	}
	for i, r := range results {
		if r.Outcome != logsink.Retryable || !strings.Contains(r.Message, "no progress within 300ms") {
			t.Fatalf("entry %d: %s, want retryable after the timeout", i, r)
		}
	}
	select {
	case c := <-conns:
		_ = c.Close()
	default:
	}
}

// TestUnixSocketMissing sends to a socket that does not exist: retryable.
func TestUnixSocketMissing(t *testing.T) {
	s := configured(t, map[string]any{"network": "unix", "address": filepath.Join(t.TempDir(), "none.sock")})
	for _, r := range write(t, s, entry("nosock-1"), entry("nosock-2")) {
		if r.Outcome != logsink.Retryable || !strings.Contains(r.Message, "no such file") {
			t.Errorf("%s, want retryable saying the socket does not exist", r)
		}
		if !errors.Is(r.Err(), plugin.ErrUnavailable) {
			t.Errorf("Err() = %v, want plugin.ErrUnavailable", r.Err())
		}
	}
}

// TestLifecycle checks writes before Configure and after Close.
func TestLifecycle(t *testing.T) {
	r := startRsyslogd(t)
	s := configured(t, settingsFor(r, "udp"))
	ctx := context.Background()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write(ctx, []logsink.Entry{entry("closed")}); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close: %v, want unavailable, closed", err)
	}
	raw := []byte(fmt.Sprintf(`{"network":"tcp","address":%q}`, r.tcp))
	if err := s.Configure(ctx, raw, logsink.APIVersion); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("reconfigured-%d", time.Now().UnixNano())
	mustDeliver(t, s, entry(id))
	if rec := await(t, r, id)[id]; rec.Input != "imtcp" {
		t.Errorf("after reconfiguring to tcp the entry came through %s", rec.Input)
	}
}

// TestPluginBinaryRefusesToRunByHand runs the plugin without the go-plugin
// handshake: it must say it is a plugin and exit non-zero.
func TestPluginBinaryRefusesToRunByHand(t *testing.T) {
	cmd := exec.Command(pluginBinary(t))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("running by hand: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("output does not say it is a plugin:\n%s", out)
	}
}
