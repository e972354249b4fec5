package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Environment of the re-executed test binary that writes under a file size
// limit.
const (
	childEnv     = "QX_LOGSINK_FILE_TEST_CHILD"
	childPathEnv = "QX_LOGSINK_FILE_TEST_PATH"
	// childLimit is the file size limit of the child, in bytes.
	childLimit = 10000
)

// childReport is what the child prints.
type childReport struct {
	Delivered int    `json:"delivered"`
	Retryable int    `json:"retryable"`
	Message   string `json:"message"`
}

// runChild writes batches under RLIMIT_FSIZE until the limit makes a write
// fail part way, and prints what the sink answered.
func runChild() int {
	lim := &syscall.Rlimit{Cur: childLimit, Max: childLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	raw, _ := json.Marshal(map[string]any{"path": os.Getenv(childPathEnv)})
	s := file.New()
	ctx := context.Background()
	if err := s.Configure(ctx, raw, logsink.APIVersion); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rep childReport
	for b := 0; b < 100 && rep.Retryable == 0; b++ {
		results, err := s.Write(ctx, entries("fsize", b*7, 7, 300))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, r := range results {
			switch r.Outcome {
			case logsink.Delivered:
				rep.Delivered++
			case logsink.Retryable:
				rep.Retryable++
				rep.Message = r.Message
			default:
				fmt.Fprintf(os.Stderr, "unexpected result %s\n", r)
				return 1
			}
		}
	}
	if err := s.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 1
	}
	return 0
}

// TestFailedWriteLeavesWholeLines fills a file up to the process's file
// size limit, so that a write fails part way: the entries of the failed
// write are retryable and the partial line is cut back out of the file.
func TestFailedWriteLeavesWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limited.log")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=fsize", childPathEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if rep.Retryable == 0 || !strings.Contains(rep.Message, "file too large") {
		t.Fatalf("child report %+v: want retryable entries with a message saying the file is too large", rep)
	}
	got := readAll(t, path)
	if len(got) != rep.Delivered {
		t.Fatalf("the file holds %d entries, the sink reported %d delivered", len(got), rep.Delivered)
	}
	for i, e := range got {
		if want := fmt.Sprintf("fsize-%d", i); e.ID != want {
			t.Fatalf("entry %d is %s, want %s", i, e.ID, want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' || len(data) > childLimit {
		t.Errorf("the file is %d bytes ending in %q; want whole lines within the %d byte limit", len(data), data[max(0, len(data)-20):], childLimit)
	}
	t.Logf("%d entries delivered, %d retryable: %s", rep.Delivered, rep.Retryable, rep.Message)
}

// TestIOErrorIsRetryable writes to /dev/full, where every write fails with
// "no space left on device".
func TestIOErrorIsRetryable(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full is needed: %v", err)
	}
	s := configured(t, map[string]any{"path": "/dev/full", "max_size": "1KiB"})
	batch := entries("full", 0, 5, 2000)
	results, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatalf("Write: %v, want per-entry results", err)
	}
	for i, r := range results {
		if r.Outcome != logsink.Retryable || !strings.Contains(r.Message, "no space left on device") {
			t.Errorf("entry %s: %s, want retryable saying no space is left", batch[i].ID, r)
		}
		if !errors.Is(r.Err(), plugin.ErrUnavailable) {
			t.Errorf("entry %s: Err() = %v, want plugin.ErrUnavailable", batch[i].ID, r.Err())
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Errorf("Flush of a device: %v", err)
	}
}

// TestMovedOrRemovedFileIsRecreated moves the file away (as logrotate does)
// and removes it: the next Write opens a new file at the path instead of
// writing into the old one.
func TestMovedOrRemovedFileIsRecreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.log")
	s := configured(t, map[string]any{"path": path})
	mustWrite(t, s, entries("a", 0, 3, 50))
	moved := filepath.Join(dir, "moved.log")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, entries("b", 0, 4, 50))
	if got := readOne(t, moved); len(got) != 3 {
		t.Errorf("the moved file holds %d entries, want the 3 written before the move", len(got))
	}
	if got := readAll(t, path); len(got) != 4 || got[0].ID != "b-0" {
		t.Errorf("the new file holds %d entries, want the 4 written after the move", len(got))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s, entries("c", 0, 2, 50))
	if got := readAll(t, path); len(got) != 2 || got[0].ID != "c-0" {
		t.Errorf("after removing the file, the path holds %d entries, want the 2 written since", len(got))
	}
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
	}{
		{"a file as a directory", filepath.Join(notDir, "x.log")},
		{"a directory as the file", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{"path": tc.path})
			err := file.New().Configure(context.Background(), raw, logsink.APIVersion)
			if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != "path" {
				t.Fatalf("Configure(%s) = %v (kind %s, field %q), want an invalid argument naming path", raw, err, plugin.KindOf(err), plugin.FieldOf(err))
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := file.New()
	if _, err := s.Write(ctx, entries("x", 0, 1, 10)); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("Write before Configure: %v, want unavailable, not configured", err)
	}
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "sub", "second.log")
	for _, p := range []string{first, second} {
		raw, _ := json.Marshal(map[string]any{"path": p, "fsync": true})
		if err := s.Configure(ctx, raw, logsink.APIVersion); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s, entries(filepath.Base(p), 0, 2, 10))
		if err := s.Flush(ctx); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}
	if got := readAll(t, first); len(got) != 2 || got[0].ID != "first.log-0" {
		t.Errorf("%s holds %v", first, got)
	}
	if got := readAll(t, second); len(got) != 2 || got[0].ID != "second.log-0" {
		t.Errorf("%s (configured second, directory created) holds %v", second, got)
	}
	fi, err := os.Stat(second)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: mode %v, %v; want 0640", second, fi.Mode().Perm(), err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write(ctx, entries("x", 0, 1, 10)); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close: %v, want unavailable, closed", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("Flush after Close: %v, want unavailable", err)
	}
}
