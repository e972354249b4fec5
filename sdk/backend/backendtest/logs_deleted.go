package backendtest

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// ended waits for the call to return a not-found error by itself, and
// checks that no line beyond the expected ones arrived.
func (f *follower) ended(t *testing.T, when string) {
	t.Helper()
	timeout := f.e.h.eventTimeout()
	select {
	case err := <-f.done:
		if plugin.KindOf(err) != plugin.KindNotFound {
			t.Errorf("%s returned %s %s, want a not-found error", f.what, describe(err), when)
		}
	case <-time.After(timeout):
		t.Fatalf("%s was still following the log %s %s; it must end with a not-found error once the VM is deleted", f.what, timeout, when)
	}
	f.cancel()
	if extra := f.lines.snapshot()[f.cursor:]; len(extra) > 0 {
		t.Errorf("%s delivered %d lines %s %s, want none: they are not the deleted VM's", f.what, len(extra), clip(lineTexts(extra)), when)
	}
}

// testStreamLogDeleted checks that StreamLog ends with a not-found error
// once the VM is deleted, after the lines written before, and that it never
// hands on what a new VM of the same name writes to the log.
func testStreamLogDeleted(t *testing.T, e *env) {
	e.needCap(t, backend.CapLogs, "StreamLog")
	e.needLogPath(t)

	// The lines written as the VM is deleted are its last ones.
	vm, _ := e.create(t, "stream-del")
	lf := e.takeLog(t, vm)
	f := e.follow(t, vm.ID, 0)
	before := numbered("before-delete", 2)
	f.expect(t, "before the VM was deleted", before, lf.write(before...), anyReopen)
	last := numbered("as-deleted", 2)
	offs := lf.append(last...)
	if err := e.c.DeleteVM(e.op(t), vm.ID, backend.DeleteOptions{Force: true}); err != nil {
		t.Fatalf("DeleteVM(%s) = %s, want success", vm.ID, describe(err))
	}
	f.expect(t, "written just before the VM was deleted", last, offs, noReopen)
	f.ended(t, "after the VM was deleted")

	// A new VM of the same name writes to the same log: none of its lines
	// is the deleted VM's.
	vm, r := e.create(t, "stream-reuse")
	lf = e.takeLog(t, vm)
	f = e.follow(t, vm.ID, 0)
	own := numbered("first-vm", 1)
	f.expect(t, "before the VM was deleted", own, lf.write(own...), anyReopen)
	if err := e.c.DeleteVM(e.op(t), vm.ID, backend.DeleteOptions{Force: true}); err != nil {
		t.Fatalf("DeleteVM(%s) = %s, want success", vm.ID, describe(err))
	}
	again, err := e.c.CreateVM(e.op(t), e.spec(t, r.name))
	e.add(r, again)
	if err != nil {
		t.Fatalf("CreateVM(%q) after the VM of that name was deleted = %s, want a new VM", r.name, describe(err))
	}
	lf.append(numbered("second-vm", 2)...)
	f.ended(t, "after a new VM of the same name was created and wrote to the log")
}
