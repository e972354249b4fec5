package libvirt

import (
	"context"
	"path/filepath"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/logfile"
)

// logPath returns the QEMU log of the VM id: <qemu_log_dir>/<name>.log.
func (b *Backend) logPath(id string) (string, error) {
	var path string
	err := b.withConn(func(s *session, c *libvirt.Connect) error {
		dom, err := lookupDomain(c, id)
		if err != nil {
			return err
		}
		defer dom.Free()
		name, err := dom.GetName()
		if err != nil {
			return classify(err, "reading the name of vm %s", id)
		}
		path = filepath.Join(s.cfg.QEMULogDir, name+".log")
		return nil
	})
	return path, err
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
// not exist yet is waited for.
func (b *Backend) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	id, err := checkID(id)
	if err != nil {
		return err
	}
	path, err := b.logPath(id)
	if err != nil {
		return err
	}
	return logfile.Follow(ctx, path, offset, logfile.DefaultPoll, fn)
}
