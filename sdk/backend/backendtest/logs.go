package backendtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// rotatedSuffix is appended to a log's path when the suite rotates it.
const rotatedSuffix = ".1"

// logFile is the hypervisor log of a VM the suite never starts, written by
// the suite only.
type logFile struct {
	t    *testing.T
	path string
	// size is the file's size as the suite wrote it.
	size int64
}

// takeLog returns the log file of vm for the suite to write. Files already
// at its path or its rotated path are moved aside and put back when t ends;
// files the suite created are removed.
func (e *env) takeLog(t *testing.T, vm *backend.VM) *logFile {
	t.Helper()
	e.needLogPath(t)
	path := e.h.LogPath(vm)
	if path == "" {
		t.Fatalf("backendtest: Harness.LogPath(%s) returned an empty path", fmtVM(vm))
	}
	if !filepath.IsAbs(path) {
		t.Fatalf("backendtest: Harness.LogPath(%s) = %q, want an absolute path", fmtVM(vm), path)
	}
	for _, p := range []string{path, path + rotatedSuffix} {
		type saved struct {
			data []byte
			mode os.FileMode
		}
		var old *saved
		if fi, err := os.Lstat(p); err == nil {
			if !fi.Mode().IsRegular() {
				t.Fatalf("log path %s of VM %q exists and is not a regular file (%s); refusing to touch it", p, vm.Name, fi.Mode())
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("saving the existing file %s: %v", p, err)
			}
			old = &saved{data: data, mode: fi.Mode().Perm()}
			if err := os.Remove(p); err != nil {
				t.Fatalf("moving the existing file %s aside: %v", p, err)
			}
			t.Logf("%s existed before the subtest (%d bytes); it is put back afterwards", p, len(data))
		}
		t.Cleanup(func() {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cleanup: removing %s: %v", p, err)
			}
			if old != nil {
				if err := os.WriteFile(p, old.data, old.mode); err != nil {
					t.Errorf("cleanup: putting back %s: %v", p, err)
				}
			}
		})
	}
	return &logFile{t: t, path: path}
}

// ends returns the byte offsets just past each line when the lines are
// written after base bytes.
func ends(base int64, lines []string) []int64 {
	out := make([]int64, len(lines))
	for i, l := range lines {
		base += int64(len(l)) + 1
		out[i] = base
	}
	return out
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// write replaces the file's content with lines (creating or truncating it)
// and returns the offsets just past each line.
func (l *logFile) write(lines ...string) []int64 {
	l.t.Helper()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		l.t.Fatalf("writing log %s: %v", l.path, err)
	}
	if _, err := f.WriteString(joinLines(lines)); err != nil {
		l.t.Fatalf("writing log %s: %v", l.path, err)
	}
	if err := f.Close(); err != nil {
		l.t.Fatalf("writing log %s: %v", l.path, err)
	}
	l.size = 0
	offs := ends(0, lines)
	if len(offs) > 0 {
		l.size = offs[len(offs)-1]
	}
	return offs
}

// append adds lines to the end of the file in one write and returns the
// offsets just past each line.
func (l *logFile) append(lines ...string) []int64 {
	l.t.Helper()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		l.t.Fatalf("appending to log %s: %v", l.path, err)
	}
	if _, err := f.WriteString(joinLines(lines)); err != nil {
		l.t.Fatalf("appending to log %s: %v", l.path, err)
	}
	if err := f.Close(); err != nil {
		l.t.Fatalf("appending to log %s: %v", l.path, err)
	}
	offs := ends(l.size, lines)
	l.size = offs[len(offs)-1]
	return offs
}

// rotate renames the file to its rotated name, as logrotate does; the next
// write creates a new file.
func (l *logFile) rotate() {
	l.t.Helper()
	if err := os.Rename(l.path, l.path+rotatedSuffix); err != nil {
		l.t.Fatalf("rotating log %s: %v", l.path, err)
	}
	l.size = 0
}

// remove deletes the file.
func (l *logFile) remove() {
	l.t.Helper()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.t.Fatalf("removing log %s: %v", l.path, err)
	}
	l.size = 0
}

// numbered returns n distinct lines tagged with what they are for.
func numbered(tag string, n int) []string {
	id := randHex(3)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("backendtest %s line %02d %s", tag, i+1, id)
	}
	return out
}

// testTailLog checks TailLog over a missing, an empty, a short and a large
// log file.
func testTailLog(t *testing.T, e *env) {
	e.needCap(t, backend.CapLogs, "TailLog")
	e.needLogPath(t)
	vm, _ := e.create(t, "tail")
	lf := e.takeLog(t, vm)

	tail := func(what string, n int, want []string, truncated bool) *backend.LogTail {
		t.Helper()
		what = fmt.Sprintf("TailLog(%s, %d) of %s", vm.ID, n, what)
		got, err := e.c.TailLog(e.op(t), vm.ID, n)
		if err != nil {
			t.Errorf("%s = %s, want %d lines", what, describe(err), len(want))
			return nil
		}
		if got == nil {
			t.Errorf("%s returned no tail and no error", what)
			return nil
		}
		if filepath.Clean(got.Path) != filepath.Clean(lf.path) {
			t.Errorf("%s: Path %q, want %q (Harness.LogPath)", what, got.Path, lf.path)
		}
		if !slices.Equal(got.Lines, want) {
			t.Errorf("%s: %d lines %s, want %d lines %s", what, len(got.Lines), clip(got.Lines), len(want), clip(want))
		}
		if got.Truncated != truncated {
			t.Errorf("%s: Truncated %v, want %v", what, got.Truncated, truncated)
		}
		return got
	}
	exists := func(what string, got *backend.LogTail) {
		t.Helper()
		if got == nil {
			return
		}
		fi, err := os.Stat(lf.path)
		if err != nil {
			t.Fatalf("stat %s: %v", lf.path, err)
		}
		if !got.Exists {
			t.Errorf("TailLog of %s: Exists false, want true", what)
		}
		if got.SizeBytes != fi.Size() {
			t.Errorf("TailLog of %s: SizeBytes %d, want %d", what, got.SizeBytes, fi.Size())
		}
		if got.LastModified.IsZero() {
			t.Errorf("TailLog of %s: LastModified not set, want the file's modification time %s", what, fi.ModTime())
		} else if d := got.LastModified.Sub(fi.ModTime()).Abs(); d > time.Second {
			t.Errorf("TailLog of %s: LastModified %s, want the file's modification time %s", what, got.LastModified, fi.ModTime())
		}
	}

	// Missing: an empty tail, not an error.
	if got := tail("a log that does not exist", 10, []string{}, false); got != nil && got.Exists {
		t.Errorf("TailLog of a log that does not exist: Exists true, want false")
	}

	lf.write()
	exists("an empty log", tail("an empty log", 10, []string{}, false))

	ten := numbered("tail", 10)
	lf.write(ten...)
	exists("a 10-line log", tail("a 10-line log", 3, ten[7:], true))
	tail("a 10-line log", 1, ten[9:], true)
	tail("a 10-line log", 10, ten, false)
	tail("a 10-line log", 100, ten, false)

	for _, n := range []int{0, -1, backend.MaxTailLines + 1} {
		_, err := e.c.TailLog(e.op(t), vm.ID, n)
		what := fmt.Sprintf("TailLog(%s, %d)", vm.ID, n)
		if wantKind(t, what, err, plugin.KindInvalidArgument) {
			if f := plugin.FieldOf(err); f != "lines" {
				t.Errorf("%s: %s names field %q, want \"lines\"", what, describe(err), f)
			}
		}
	}

	// A large log with lines longer than any sane read buffer near the end.
	big := make([]string, 0, 6000)
	for i := range 6000 {
		big = append(big, fmt.Sprintf("backendtest big line %05d %s", i, strings.Repeat("x", i%157)))
	}
	big[5500] = "backendtest long line " + strings.Repeat("L", 100<<10)
	big[5999] = "backendtest last long line " + strings.Repeat("Z", 70<<10)
	lf.write(big...)
	exists("a large log", tail("a large log", 1000, big[5000:], true))
	tail("a large log", 1, big[5999:], true)

	lf.remove()
	if got := tail("a log that was removed", 10, []string{}, false); got != nil && got.Exists {
		t.Errorf("TailLog of a log that was removed: Exists true, want false")
	}
}

// clip formats lines for a failure message, eliding the middle of long
// lists and long lines.
func clip(lines []string) string {
	short := func(s string) string {
		if len(s) > 80 {
			return fmt.Sprintf("%s…(%d bytes)", s[:60], len(s))
		}
		return s
	}
	var out []string
	for i, l := range lines {
		if len(lines) > 8 && i >= 3 && i < len(lines)-3 {
			if i == 3 {
				out = append(out, fmt.Sprintf("…%d more…", len(lines)-6))
			}
			continue
		}
		out = append(out, fmt.Sprintf("%q", short(l)))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// follower is one running StreamLog call.
type follower struct {
	e      *env
	what   string
	lines  *collector[backend.LogLine]
	done   chan error
	sc     *streamCall
	cancel context.CancelFunc
	// cursor is how many lines have been checked.
	cursor int
}

// follow starts StreamLog(id, offset) and waits until the plugin side runs.
func (e *env) follow(t *testing.T, id string, offset int64) *follower {
	t.Helper()
	return e.followFrom(t, id, backend.LogPosition{Offset: offset})
}

// followFrom starts StreamLogFrom(id, from) (StreamLog when from names no
// file) and waits until the plugin side runs.
func (e *env) followFrom(t *testing.T, id string, from backend.LogPosition) *follower {
	t.Helper()
	what := fmt.Sprintf("StreamLog(%s, offset %d)", id, from.Offset)
	if from.File != "" {
		what = fmt.Sprintf("StreamLogFrom(%s, file %s, offset %d)", id, from.File, from.Offset)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	f := &follower{
		e:      e,
		what:   what,
		lines:  newCollector[backend.LogLine](),
		done:   make(chan error, 1),
		cancel: cancel,
	}
	if e.tr != nil {
		ctx, f.sc = e.tr.tag(ctx, "stream-"+randHex(8))
	}
	go func() {
		f.done <- e.c.StreamLogFrom(ctx, id, from, func(l backend.LogLine) error {
			f.lines.add(l)
			return nil
		})
	}()
	if f.sc != nil {
		select {
		case <-f.sc.entered:
		case err := <-f.done:
			t.Fatalf("%s returned %s at once, want it to follow the log until cancelled", f.what, describe(err))
		case <-time.After(e.h.eventTimeout()):
			t.Fatalf("%s did not reach the plugin within %s", f.what, e.h.eventTimeout())
		}
	}
	return f
}

// running fails t when the call has returned.
func (f *follower) running(t *testing.T, when string) {
	t.Helper()
	select {
	case err := <-f.done:
		t.Fatalf("%s returned %s %s, want it to keep following until cancelled", f.what, describe(err), when)
	default:
	}
}

// reopen says which of the expected lines must be marked Reopened.
type reopen int

const (
	// anyReopen leaves Reopened unchecked.
	anyReopen reopen = iota
	// noReopen wants Reopened false on every line.
	noReopen
	// firstReopened wants Reopened on the first line only.
	firstReopened
)

// expect waits for the next lines and checks their text, offsets and
// Reopened marks.
func (f *follower) expect(t *testing.T, when string, texts []string, offs []int64, re reopen) {
	t.Helper()
	timeout := f.e.h.eventTimeout()
	all := f.lines.waitCount(f.cursor+len(texts), timeout)
	got := all[f.cursor:]
	if len(got) < len(texts) {
		t.Fatalf("%s %s: %d lines %s arrived within %s, want %d lines %s",
			f.what, when, len(got), clip(lineTexts(got)), timeout, len(texts), clip(texts))
	}
	got = got[:len(texts)]
	if !slices.Equal(lineTexts(got), texts) {
		t.Fatalf("%s %s: got lines %s, want %s in this order", f.what, when, clip(lineTexts(got)), clip(texts))
	}
	for i, l := range got {
		if l.Offset != offs[i] {
			t.Errorf("%s %s: line %q has Offset %d, want %d (the byte offset just past it)", f.what, when, texts[i], l.Offset, offs[i])
		}
		switch {
		case re == noReopen && l.Reopened:
			t.Errorf("%s %s: line %q is marked Reopened, want false (the file was neither truncated nor rotated)", f.what, when, texts[i])
		case re == firstReopened && i == 0 && !l.Reopened:
			t.Errorf("%s %s: first line %q is not marked Reopened, want true", f.what, when, texts[i])
		case re == firstReopened && i > 0 && l.Reopened:
			t.Errorf("%s %s: line %q is marked Reopened, want that only on the first line after reopening", f.what, when, texts[i])
		}
	}
	f.cursor += len(texts)
}

func lineTexts(ls []backend.LogLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

// stop cancels the call and checks that both sides end cleanly and that no
// line beyond the expected ones arrived.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.running(t, "before it was cancelled")
	timeout := f.e.h.eventTimeout()
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("%s after its context was cancelled returned %s, want nil", f.what, describe(err))
		}
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %s of its context being cancelled", f.what, timeout)
	}
	if f.sc != nil {
		select {
		case <-f.sc.done:
			if f.sc.err != nil && !errors.Is(f.sc.err, context.Canceled) {
				t.Errorf("the plugin's %s returned %s once the host cancelled, want nil", f.what, describe(f.sc.err))
			}
		case <-time.After(timeout):
			t.Errorf("the plugin's %s was still running %s after the host cancelled the stream; it must return when its ctx ends", f.what, timeout)
		}
	}
	if extra := f.lines.snapshot()[f.cursor:]; len(extra) > 0 {
		t.Errorf("%s delivered %d unexpected lines %s, want none beyond those written", f.what, len(extra), clip(lineTexts(extra)))
	}
}

// testStreamLog follows a VM's log from its start, from an offset and from
// its end, across appends, truncation and rotation.
func testStreamLog(t *testing.T, e *env) {
	e.needCap(t, backend.CapLogs, "StreamLog")
	e.needLogPath(t)
	vm, _ := e.create(t, "stream")
	lf := e.takeLog(t, vm)
	timeout := e.h.eventTimeout()

	// A log that does not exist yet is waited for.
	f := e.follow(t, vm.ID, 0)
	wait.Stays(t, min(300*time.Millisecond, timeout), f.what+" following a log that does not exist yet", func() bool {
		f.running(t, "while the log did not exist yet")
		return true
	})
	initial := numbered("initial", 3)
	offs := lf.write(initial...)
	f.expect(t, "after the log was created", initial, offs, anyReopen)
	f.stop(t)

	// From the start of an existing log.
	f = e.follow(t, vm.ID, 0)
	f.expect(t, "of an existing log", initial, offs, noReopen)
	f.stop(t)

	// From the offset of a line, as a resuming caller does.
	f = e.follow(t, vm.ID, offs[0])
	f.expect(t, "of an existing log", initial[1:], offs[1:], noReopen)
	f.stop(t)

	// From the end: lines already there are not sent. Append marker lines
	// until the first arrives, so the call is known to be at the end.
	f = e.follow(t, vm.ID, -1)
	var marks []string
	var markOffs []int64
	wait.UntilNil(t, timeout, f.what+" to deliver a line appended to the log", func() error {
		if len(f.lines.snapshot()) > 0 {
			return nil
		}
		m := fmt.Sprintf("backendtest marker %03d %s", len(marks), randHex(3))
		marks = append(marks, m)
		markOffs = append(markOffs, lf.append(m)...)
		if f.lines.waitFor(0, 200*time.Millisecond, func(backend.LogLine) bool { return true }) < 0 {
			return fmt.Errorf("none of the %d lines appended so far was delivered", len(marks))
		}
		return nil
	})
	first := f.lines.snapshot()[0]
	i := slices.Index(marks, first.Text)
	if i < 0 {
		t.Fatalf("%s: first line %q, want one appended after the call started (%s); lines already in the log must not be sent",
			f.what, first.Text, clip(marks))
	}
	f.expect(t, "after lines were appended", marks[i:], markOffs[i:], noReopen)

	appended := numbered("appended", 5)
	aoffs := lf.append(appended[:2]...)
	aoffs = append(aoffs, lf.append(appended[2])...)
	aoffs = append(aoffs, lf.append(appended[3:]...)...)
	f.expect(t, "after lines were appended", appended, aoffs, noReopen)

	// Truncated in place and written again: shorter than before, so that a
	// follower that polls sees the file shrink.
	oldSize := lf.size
	truncated := []string{"backendtest trunc 1", "backendtest trunc 2", "backendtest trunc 3"}
	toffs := lf.write(truncated...)
	if lf.size >= oldSize {
		t.Fatalf("backendtest: the log after truncation (%d bytes) must be shorter than before (%d bytes)", lf.size, oldSize)
	}
	f.expect(t, "after the log was truncated and written", truncated, toffs, firstReopened)

	// Rotated: renamed away and a new file created at the path.
	lf.rotate()
	rotated := numbered("rotated", 3)
	roffs := lf.write(rotated...)
	f.expect(t, "after the log was rotated", rotated, roffs, firstReopened)

	more := numbered("after-rotation", 2)
	f.expect(t, "after lines were appended to the new log", more, lf.append(more...), noReopen)
	f.stop(t)
}

// testStreamLogFrom, for a backend that resumes by file (backend.LogResumer):
// lines name their file, and a log rotated while nobody followed is resumed
// in the rotated file, then the new one, no line lost or sent twice.
func testStreamLogFrom(t *testing.T, e *env) {
	e.needCap(t, backend.CapLogs, "StreamLogFrom")
	e.needLogPath(t)
	if e.tr == nil {
		t.Skip("SKIPPED: the backend was handed over as a client: whether it resumes by file is not known")
	}
	if _, ok := e.tr.Backend.(backend.LogResumer); !ok {
		t.Skipf("SKIPPED: backend %q does not implement backend.LogResumer", e.info.Name)
	}
	vm, _ := e.create(t, "resume")
	lf := e.takeLog(t, vm)
	first := numbered("first", 3)
	offs := lf.write(first...)
	f := e.follow(t, vm.ID, 0)
	f.expect(t, "of an existing log", first, offs, noReopen)
	got := f.lines.snapshot()
	f.stop(t)
	file := got[0].File
	for _, l := range got {
		if l.File == "" || l.File != file {
			t.Fatalf("%s: line %q has File %q, want the same identity of the log file on every line", f.what, l.Text, l.File)
		}
	}

	// Rotated while nobody followed, and the new file grown past the
	// offset resumed from.
	unsent := numbered("unsent", 2)
	uoffs := lf.append(unsent...)
	lf.rotate()
	fresh := numbered("fresh file, longer than the rest of the rotated one", 3)
	foffs := lf.write(fresh...)
	f = e.followFrom(t, vm.ID, backend.LogPosition{File: file, Offset: offs[0]})
	f.expect(t, "of the rotated log", append(first[1:], unsent...), append(offs[1:], uoffs...), noReopen)
	f.expect(t, "of the log it was rotated to", fresh, foffs, firstReopened)
	f.stop(t)
}
