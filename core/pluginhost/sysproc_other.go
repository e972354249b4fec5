//go:build !unix

package pluginhost

import "syscall"

// sysProcAttr has no process group or parent-death signal to set outside
// Unix; Close still stops every plugin on an orderly shutdown.
func sysProcAttr() *syscall.SysProcAttr { return nil }
