//go:build unix

package logfile

import (
	"fmt"
	"os"
	"syscall"
)

// FileID identifies a file by its device and inode, which a rename (a
// rotation) keeps: the LogLine.File of the lines read from it.
func FileID(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%x:%x", uint64(st.Dev), uint64(st.Ino))
}
