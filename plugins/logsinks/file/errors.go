package file

import (
	"errors"
	"syscall"
)

// isNotDir reports whether err says that a part of a path is not a
// directory: a configuration mistake, not an outage.
func isNotDir(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}
