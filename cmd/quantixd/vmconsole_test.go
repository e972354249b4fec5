package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// consolePrefix starts the names of the console tests' domains.
const consolePrefix = "qx-w-"

// Console benchmark targets (issue: keystroke echo through the API).
const (
	consoleTargetP99   = 20 * time.Millisecond
	consoleTargetRatio = 2.0
	// consoleEchoRounds is how many keystrokes one benchmark run times
	// on each path.
	consoleEchoRounds = 300
)

// guestBoot bounds a boot of the test guest to its prompt.
const guestBoot = 90 * time.Second

// defineGuest defines (as someone outside Quantix would, with virsh) a
// domain booting the test guest, removed when the test ends, and returns
// its name.
func defineGuest(t testing.TB) string {
	t.Helper()
	g := testguest.Build(t)
	name := consolePrefix + testid.Hex(4)
	doc := g.DomainXML(name, testguest.MemoryMiB)
	path := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	virshOK(t, "define", path)
	return name
}

func virshOK(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", testlibvirt.QEMUURI}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// wsConsole is the API's console WebSocket of a test, with what it read.
type wsConsole struct {
	ws  *websocket.Conn
	out *lockedBuf
	end chan error
}

// openConsole opens GET /api/vms/{ref}/console as p's admin.
func openConsole(t testing.TB, p *proc, ref string) *wsConsole {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := http.Header{"Authorization": {"Bearer " + p.token}}
	ws, resp, err := websocket.Dial(ctx, p.url+"/api/vms/"+ref+"/console", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := "no reply"
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			status = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		t.Fatalf("opening the console of %s: %v (%s)", ref, err, status)
	}
	c := &wsConsole{ws: ws, out: &lockedBuf{}, end: make(chan error, 1)}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.end <- err
				return
			}
			c.out.Write(b)
		}
	}()
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

func (c *wsConsole) send(t testing.TB, s string) {
	t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		t.Fatalf("typing %q: %v", s, err)
	}
}

// lockedBuf is a buffer written by one goroutine and read by the test.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// changed is closed at the next Write.
	changed chan struct{}
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// next returns what the buffer holds from offset from, and a channel
// closed at its next write.
func (b *lockedBuf) next(from int) (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	s := b.buf.String()
	if from > len(s) {
		from = len(s)
	}
	return s[from:], b.changed
}

func (b *lockedBuf) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until what out holds after offset contains text, and
// returns where it ends.
func waitFor(t testing.TB, out *lockedBuf, from int, text string, within time.Duration) int {
	t.Helper()
	var at int
	wait.Until(t, within, fmt.Sprintf("%q on the console", text), func() bool {
		s := out.String()
		if from > len(s) {
			from = len(s)
		}
		i := strings.Index(s[from:], text)
		if i < 0 {
			return false
		}
		at = from + i + len(text)
		return true
	})
	return at
}

var cliBuild struct {
	once sync.Once
	path string
	err  error
}

// quantixCLI returns the quantix binary, built once per test process.
func quantixCLI(t testing.TB) string {
	t.Helper()
	cliBuild.once.Do(func() {
		root, err := testbin.RepoRoot()
		if err != nil {
			cliBuild.err = err
			return
		}
		dir, err := os.MkdirTemp("", consolePrefix+"cli-")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.path = filepath.Join(dir, "quantix")
		cmd := exec.Command("go", "build", "-o", cliBuild.path, "./cmd/quantix")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBuild.err = fmt.Errorf("building quantix: %v: %s", err, out)
		}
	})
	if cliBuild.err != nil {
		t.Fatal(cliBuild.err)
	}
	return cliBuild.path
}

// TestConsoleGuest, on real libvirt/QEMU with the test guest: its boot
// to the ready line seen through the API's WebSocket; a command typed and
// its output read back; then `quantix vm console` run as a process on a
// pipe: a command and its output, and `poweroff` ending the console and
// the VM as a guest shutdown (STOPPED, caused by the host). A reboot from
// inside the guest is TestE2EGuest's and the libvirt plugin's.
func TestConsoleGuest(t *testing.T) {
	requireE2E(t)
	cli := quantixCLI(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeConfig(t, dir, "sqlite", ""), "-data-dir", dir)
	name := defineGuest(t)
	// Started paused, so that the console is open before the guest boots.
	virshOK(t, "start", "--paused", name)
	v, _ := d.waitVM(t, name, 60*time.Second, "the guest discovered PAUSED", stateIs("PAUSED"))
	id := v.str("id")
	d.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/adopt", "")

	c := openConsole(t, d, id)
	d.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/resume", "")
	at := waitFor(t, c.out, 0, testguest.Ready, guestBoot)
	c.send(t, "\r")
	at = waitFor(t, c.out, at, testguest.Prompt, 30*time.Second)
	c.send(t, "echo ws-$((6*7))\r")
	waitFor(t, c.out, at, "ws-42", 30*time.Second)
	if err := c.ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("closing the WebSocket: %v", err)
	}

	// The CLI, on a pipe.
	cmd := exec.Command(cli, "vm", "console", name)
	cmd.Env = append(os.Environ(), "QUANTIX_ADDR="+d.url, "QUANTIX_TOKEN="+d.token)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut := &lockedBuf{}, &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	waitFor(t, errOut, 0, "Connected to the console of vm "+name, 30*time.Second)
	type_ := func(s string) {
		if _, err := io.WriteString(stdin, s); err != nil {
			t.Fatalf("typing %q into quantix vm console: %v", s, err)
		}
	}
	type_("\r")
	at = waitFor(t, out, 0, testguest.Prompt, 30*time.Second)
	type_("echo cli-$((6*7))\r")
	at = waitFor(t, out, at, "cli-42", 30*time.Second)
	type_("poweroff\r")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("quantix vm console after poweroff: %v\nstderr:\n%s", err, errOut)
		}
	case <-time.After(guestBoot):
		t.Fatalf("quantix vm console still runs after poweroff\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if s := errOut.String(); !strings.Contains(s, "ended") || !strings.Contains(strings.ToLower(s), "stop") {
		t.Errorf("quantix vm console's stderr does not say the console ended as the VM stopped:\n%s", s)
	}
	d.waitVM(t, id, 30*time.Second, "STOPPED after poweroff", stateIs("STOPPED"))
	r := d.act(t, http.StatusOK, "GET", "/api/vms/"+id+"/events", "")
	evs, _ := r.body["events"].([]any)
	var last map[string]any
	for _, e := range evs {
		if m, _ := e.(map[string]any); m["new_state"] == "STOPPED" {
			last = m
		}
	}
	if last == nil || last["cause"] != "host" {
		t.Errorf("no STOPPED event caused by the host (a guest shutdown) in %s", r.raw)
	}
	// The console's audit: two opens and two closes of the admin.
	wait.UntilNil(t, 30*time.Second, "the console's audit entries", func() error {
		r := d.act(t, http.StatusOK, "GET", "/api/logs?source=audit&limit=100", "")
		n := strings.Count(r.raw, `"vm.console.open"`) + strings.Count(r.raw, `"vm.console.close"`)
		if n < 4 {
			return fmt.Errorf("%d console open/close entries in %s", n, r.raw)
		}
		return nil
	})
	d.stop(t)
}

// BenchmarkConsoleEcho: a keystroke's echo round trip on the test guest's
// shell through the API's WebSocket, the server, the agent and the
// plugin, against `virsh console` (on a pty) on the same guest in the same
// run. Targets: p99 at most 20 ms and at most twice virsh's.
func BenchmarkConsoleEcho(b *testing.B) {
	requireE2E(b)
	dir := b.TempDir()
	d := startDaemon(b, "dev", "-config", writeConfig(b, dir, "sqlite", ""), "-data-dir", dir)
	name := defineGuest(b)
	virshOK(b, "start", "--paused", name)
	v, _ := d.waitVM(b, name, 60*time.Second, "the guest discovered PAUSED", stateIs("PAUSED"))
	id := v.str("id")
	d.act(b, http.StatusOK, "POST", "/api/vms/"+id+"/adopt", "")
	c := openConsole(b, d, id)
	d.act(b, http.StatusOK, "POST", "/api/vms/"+id+"/resume", "")
	at := waitFor(b, c.out, 0, testguest.Ready, guestBoot)
	c.send(b, "\r")
	waitFor(b, c.out, at, testguest.Prompt, 30*time.Second)

	var api, direct []time.Duration
	for range b.N {
		api = append(api, echoRounds(b, func(s string) { c.send(b, s) }, c.out)...)
	}
	if err := c.ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
		b.Fatalf("closing the WebSocket: %v", err)
	}

	// virsh console needs a terminal: give it a pty. It gets the console
	// once the API's is closed (libvirt's are exclusive too).
	cmd := exec.Command("virsh", "-c", testlibvirt.QEMUURI, "console", name)
	tty, err := pty.Start(cmd)
	if err != nil {
		b.Fatalf("starting virsh console on a pty: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = tty.Close()
	}()
	vout := &lockedBuf{}
	go func() { _, _ = io.Copy(vout, tty) }()
	at = waitFor(b, vout, 0, "Escape character", 30*time.Second)
	send := func(s string) {
		if _, err := io.WriteString(tty, s); err != nil {
			b.Fatalf("typing into virsh console: %v", err)
		}
	}
	send("\r")
	waitFor(b, vout, at, testguest.Prompt, 30*time.Second)
	for range b.N {
		direct = append(direct, echoRounds(b, send, vout)...)
	}
	b.StopTimer()
	d.stop(b)

	p := func(xs []time.Duration, q float64) time.Duration {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[min(len(s)-1, int(q*float64(len(s))))]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	apiP99, virshP99 := p(api, 0.99), p(direct, 0.99)
	b.ReportMetric(ms(p(api, 0.5)), "api-p50-ms")
	b.ReportMetric(ms(apiP99), "api-p99-ms")
	b.ReportMetric(ms(p(direct, 0.5)), "virsh-p50-ms")
	b.ReportMetric(ms(virshP99), "virsh-p99-ms")
	b.ReportMetric(ms(apiP99)/ms(virshP99), "ratio-p99")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d keystrokes each: API WebSocket p50 %s p99 %s; virsh console p50 %s p99 %s (ratio p99 %.2f)",
		len(api), p(api, 0.5), apiP99, p(direct, 0.5), virshP99, ms(apiP99)/ms(virshP99))
	if apiP99 > consoleTargetP99 {
		b.Errorf("target missed: the API console's echo p99 %s, want at most %s", apiP99, consoleTargetP99)
	}
	if ms(apiP99) > consoleTargetRatio*ms(virshP99) {
		b.Errorf("target missed: the API console's echo p99 %s is more than %.0f× virsh console's %s", apiP99, consoleTargetRatio, virshP99)
	}
}

// echoRounds types consoleEchoRounds keystrokes into the guest's shell
// with send, timing each until its echo shows in out, each followed by a
// backspace (untimed) so that the line stays short.
func echoRounds(tb testing.TB, send func(string), out *lockedBuf) []time.Duration {
	tb.Helper()
	var rounds []time.Duration
	keys := "abcdefghijklmnopqrstuvwxyz"
	for i := range consoleEchoRounds {
		key := keys[i%len(keys) : i%len(keys)+1]
		from := out.Len()
		t0 := time.Now()
		send(key)
		if err := waitEcho(out, from, key, 10*time.Second); err != nil {
			tb.Fatalf("keystroke %d: %v", i, err)
		}
		rounds = append(rounds, time.Since(t0))
		from = out.Len()
		send("\x7f")
		if err := waitEcho(out, from, "\b", 10*time.Second); err != nil {
			tb.Fatalf("backspace %d: %v", i, err)
		}
	}
	return rounds
}

// waitEcho waits until out holds text after from, woken by each write to
// out (it times round trips of about a millisecond).
func waitEcho(out *lockedBuf, from int, text string, within time.Duration) error {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		s, changed := out.next(from)
		if strings.Contains(s, text) {
			return nil
		}
		select {
		case <-changed:
		case <-timeout.C:
			return fmt.Errorf("no echo of %q within %s", text, within)
		}
	}
}
