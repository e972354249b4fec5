//go:build unix && !linux

package pluginhost

import "syscall"

// sysProcAttr starts the plugin in a process group of its own, so that a
// signal sent to the daemon's whole group reaches the daemon only, which
// then shuts its plugins down in order. There is no parent-death signal
// outside Linux; Close still stops every plugin on an orderly shutdown.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
