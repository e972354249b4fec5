package libvirt

import (
	"context"
	"path/filepath"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/logfile"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// logPath returns the QEMU log of the VM id: <qemu_log_dir>/<name>.log.
func (b *Backend) logPath(id string) (string, error) {
	path, _, err := b.vmLog(id)
	return path, err
}

// vmLog returns the QEMU log and the name of the VM id.
func (b *Backend) vmLog(id string) (path, name string, err error) {
	err = b.withConn(func(s *session, c *libvirt.Connect) error {
		dom, err := lookupDomain(c, id)
		if err != nil {
			return err
		}
		defer dom.Free()
		name, err = dom.GetName()
		if err != nil {
			return classify(err, "reading the name of vm %s", id)
		}
		path = filepath.Join(s.cfg.QEMULogDir, name+".log")
		return nil
	})
	return path, name, err
}

// logOwner says whose lines the QEMU log of the VM id, named name, gets
// now: libvirt names the log after the domain, so a new domain of the same
// name writes to it once the VM is deleted.
func (b *Backend) logOwner(id, name string) func(context.Context) (logfile.Owner, error) {
	return func(context.Context) (logfile.Owner, error) {
		owner := logfile.OwnerNone
		err := b.withConn(func(_ *session, c *libvirt.Connect) error {
			dom, err := lookupDomain(c, id)
			if err == nil {
				owner = logfile.OwnerVM
				_ = dom.Free()
				return nil
			}
			if plugin.KindOf(err) != plugin.KindNotFound {
				return err
			}
			other, err := c.LookupDomainByName(name)
			if hasCode(err, libvirt.ERR_NO_DOMAIN) {
				return nil
			}
			if err != nil {
				return classify(err, "following the log of vm %s: looking up a vm named %q", id, name)
			}
			owner = logfile.OwnerOther
			_ = other.Free()
			return nil
		})
		return owner, err
	}
}

// TailLog returns the last n lines of the VM's QEMU log, reading backwards
// from the end. A log that does not exist yet is an empty tail.
func (b *Backend) TailLog(_ context.Context, id string, n int) (*backend.LogTail, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	path, err := b.logPath(id)
	if err != nil {
		return nil, err
	}
	return logfile.Tail(path, n)
}

// StreamLog follows the VM's QEMU log from offset (negative: from the end)
// until ctx ends or fn fails, across truncation and rotation. A log that does
// not exist yet is waited for. Once the VM is deleted it ends with a
// not-found error, after the lines written before; a line a new domain of
// the same name writes is never handed on as this VM's.
func (b *Backend) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	return b.StreamLogFrom(ctx, id, backend.LogPosition{Offset: offset}, fn)
}

// StreamLogFrom is StreamLog resuming by file (backend.LogResumer): the
// rest of a log virtlogd rotated (to <name>.log.0, .1, ...) while nobody
// followed is read from the rotated file first.
func (b *Backend) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	id, err := checkID(id)
	if err != nil {
		return err
	}
	path, name, err := b.vmLog(id)
	if err != nil {
		return err
	}
	return logfile.FollowVM(ctx, id, path, from, logfile.DefaultPoll, b.logOwner(id, name), fn)
}
