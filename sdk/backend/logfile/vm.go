package logfile

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Owner says whose lines a VM's log file gets now. A log file is named
// after the VM (<name>.log), so once a VM is deleted a new VM of the same
// name writes to the same file.
type Owner int

const (
	// OwnerVM: the VM exists; what its log gets is its own.
	OwnerVM Owner = iota
	// OwnerNone: the VM was deleted and no VM has its name; what its log
	// still gets is the last lines written for it.
	OwnerNone
	// OwnerOther: the VM was deleted and another VM has its name; what the
	// log gets now is that VM's.
	OwnerOther
)

// FollowVM timing.
const (
	// OwnerCheckInterval is how often FollowVM asks whose the log is while
	// no line comes.
	OwnerCheckInterval = time.Second
	// GoneQuiet is how long FollowVM still follows the log of a deleted VM
	// once the log has gone quiet, for the lines written as it was deleted.
	GoneQuiet = time.Second
)

// errVMGone ends following the log of a VM that was deleted.
var errVMGone = errors.New("the vm was deleted")

// FollowVM follows the log at path of VM id from from as FollowFrom does, and ends once
// the VM is deleted, so that no line of a later VM of the same name is
// handed on as this VM's. owner says whose the log is; it is asked after
// each line is read and before fn gets it, and every OwnerCheckInterval
// while no line comes. A line is handed to fn while owner says OwnerVM, or
// OwnerNone (the deleted VM's last lines). FollowVM returns a not-found
// error naming id at once when owner says OwnerOther, and once owner says
// OwnerNone and the log has been quiet for GoneQuiet. An error of owner
// when a line was read ends it with that error (the caller may follow the
// log again from the last line it got); one while no line comes is asked
// again at the next check. It returns nil when ctx ends and fn's error as
// is.
func FollowVM(ctx context.Context, id, path string, from backend.LogPosition, poll time.Duration, owner func(context.Context) (Owner, error), fn func(backend.LogLine) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu sync.Mutex
		// goneSince is when owner first said OwnerNone, zero while the VM
		// exists; last is when the last line was handed on.
		goneSince, last time.Time
	)
	// check asks owner and fails with errVMGone when the log is another
	// VM's now.
	check := func(now time.Time) error {
		o, err := owner(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case OwnerVM:
			goneSince = time.Time{}
		case OwnerNone:
			if goneSince.IsZero() {
				goneSince = now
			}
		default:
			return errVMGone
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(OwnerCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := check(now); errors.Is(err, errVMGone) {
					cancel(errVMGone)
					return
				}
				mu.Lock()
				quiet := !goneSince.IsZero() && now.Sub(goneSince) >= GoneQuiet && now.Sub(last) >= GoneQuiet
				mu.Unlock()
				if quiet {
					cancel(errVMGone)
					return
				}
			}
		}
	}()
	err := FollowFrom(ctx, path, from, poll, func(l backend.LogLine) error {
		if err := check(time.Now()); err != nil {
			return err
		}
		mu.Lock()
		last = time.Now()
		mu.Unlock()
		return fn(l)
	})
	cancel(nil)
	wg.Wait()
	if errors.Is(err, errVMGone) || err == nil && errors.Is(context.Cause(ctx), errVMGone) {
		return plugin.NotFound("following the log of vm %s: the vm was deleted", id)
	}
	return err
}
