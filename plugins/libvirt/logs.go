package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
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
	if n < 1 || n > backend.MaxTailLines {
		return nil, plugin.InvalidArgument("lines", "lines: %d is not between 1 and %d", n, backend.MaxTailLines)
	}
	path, err := b.logPath(id)
	if err != nil {
		return nil, err
	}
	return tailFile(path, n)
}

// tailFile reads the last n lines of the file at path.
func tailFile(path string, n int) (*backend.LogTail, error) {
	tail := &backend.LogTail{Path: path, Lines: []string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tail, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading log %s: %w", path, err)
	}
	res, err := tailLines(f, st.Size(), n, tailChunk)
	if err != nil {
		return nil, fmt.Errorf("tailing log %s: %w", path, err)
	}
	tail.Exists, tail.SizeBytes, tail.LastModified = true, st.Size(), st.ModTime()
	tail.Lines, tail.Truncated = res.Lines, res.Truncated
	return tail, nil
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
	return followFile(ctx, path, offset, followPoll, fn)
}
