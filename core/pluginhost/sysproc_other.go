//go:build !linux

package pluginhost

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; Close still kills
// every plugin on an orderly shutdown.
func sysProcAttr() *syscall.SysProcAttr { return nil }
