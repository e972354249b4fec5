package pluginhost

import "syscall"

// sysProcAttr makes the kernel SIGKILL the plugin when the daemon dies, so a
// killed daemon (kill -9, OOM) leaves no plugin behind. The signal follows
// the thread that started the plugin; Go keeps that thread for the life of
// the process unless a goroutine locked to it exits, which this package
// never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
