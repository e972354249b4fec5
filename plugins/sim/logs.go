package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/logfile"
)

// followPoll is how often StreamLog looks for new lines.
const followPoll = 50 * time.Millisecond

// logPath is the log of the VM named name: <log_dir>/<name>.log.
func logPath(s *settings, name string) string {
	return filepath.Join(s.logDir, name+".log")
}

// LogPath returns the path of the log TailLog and StreamLog read for the VM
// named name, whether it exists or not; "" before Configure.
func (b *Backend) LogPath(name string) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.set == nil {
		return ""
	}
	return logPath(b.set, name)
}

// vmLogPath returns the log path of VM id.
func (b *Backend) vmLogPath(ctx context.Context, verb, id string) (string, error) {
	path, _, err := b.vmLog(ctx, verb, id)
	return path, err
}

// vmLog returns the log path and the name of VM id.
func (b *Backend) vmLog(ctx context.Context, verb, id string) (path, name string, err error) {
	if _, err := b.enter(ctx, verb); err != nil {
		return "", "", err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	vm, err := b.lookup(verb, id)
	if err != nil {
		return "", "", err
	}
	return logPath(b.set, vm.Name), vm.Name, nil
}

// logOwner says whose lines the log of VM id, named name, gets now.
func (b *Backend) logOwner(id, name string) func(context.Context) (logfile.Owner, error) {
	return func(context.Context) (logfile.Owner, error) {
		b.mu.RLock()
		defer b.mu.RUnlock()
		if _, ok := b.vms[id]; ok {
			return logfile.OwnerVM, nil
		}
		if _, ok := b.names[name]; ok {
			return logfile.OwnerOther, nil
		}
		return logfile.OwnerNone, nil
	}
}

// TailLog returns the last n lines of the VM's log, reading backwards from
// the end. A log that does not exist yet is an empty tail.
func (b *Backend) TailLog(ctx context.Context, id string, n int) (*backend.LogTail, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	path, err := b.vmLogPath(ctx, "tailing the log of vm "+id, id)
	if err != nil {
		return nil, err
	}
	return logfile.Tail(path, n)
}

// StreamLog follows the VM's log from offset (negative: from the end) until
// ctx ends, the backend closes or fn fails, across truncation and rotation.
// A log that does not exist yet is waited for. Once the VM is deleted (or
// removed or moved away) it ends with a not-found error, after the lines
// written before; a line a new VM of the same name writes is never handed
// on as this VM's.
func (b *Backend) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	return b.StreamLogFrom(ctx, id, backend.LogPosition{Offset: offset}, fn)
}

// StreamLogFrom is StreamLog resuming by file (backend.LogResumer): the
// rest of a log rotated while nobody followed is read from the rotated
// file first.
func (b *Backend) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	id, err := checkID(id)
	if err != nil {
		return err
	}
	path, name, err := b.vmLog(ctx, "following the log of vm "+id, id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(b.life, cancel)
	defer stop()
	return logfile.FollowVM(ctx, id, path, from, followPoll, b.logOwner(id, name), fn)
}

// logChange writes a state change to the VM's log; b.mu is held.
func (b *Backend) logChange(vm *backend.VM, from backend.PowerState, at time.Time) {
	msg := fmt.Sprintf("state %s -> %s", strings.ToLower(string(from)), strings.ToLower(string(vm.State)))
	if vm.StateReason != "" {
		msg += " (" + vm.StateReason + ")"
	}
	if vm.State == backend.StateCrashed {
		msg = "error: guest crashed: " + msg
	}
	b.logLineAt(vm, msg, at)
}

// logLine writes msg to the VM's log; b.mu is held.
func (b *Backend) logLine(vm *backend.VM, msg string) {
	b.logLineAt(vm, msg, time.Now())
}

func (b *Backend) logLineAt(vm *backend.VM, msg string, at time.Time) {
	if b.set == nil || !b.set.logEvents {
		return
	}
	path := logPath(b.set, vm.Name)
	line := fmt.Sprintf("%s sim: vm %s: %s\n", at.UTC().Format("2006-01-02T15:04:05.000000Z"), vm.Name, msg)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		b.log.Warn("writing vm log", "vm", vm.Name, "path", path, "error", err)
		return
	}
	if _, err := f.WriteString(line); err != nil {
		b.log.Warn("writing vm log", "vm", vm.Name, "path", path, "error", err)
	}
	if err := f.Close(); err != nil {
		b.log.Warn("writing vm log", "vm", vm.Name, "path", path, "error", err)
	}
}
