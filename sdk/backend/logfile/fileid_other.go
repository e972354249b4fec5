//go:build !unix

package logfile

import "os"

// FileID is empty where files have no device and inode: following then
// resumes by offset alone.
func FileID(os.FileInfo) string { return "" }
