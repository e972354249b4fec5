package pluginhost

import "syscall"

// sysProcAttr starts the plugin in a process group of its own, so that a
// signal sent to the daemon's whole group (what systemd, timeout and Ctrl-C
// in a terminal do) reaches the daemon only: the daemon then shuts its
// plugins down in order (Close), after the work that needs them, instead of
// them dying at the same moment.
//
// It also makes the kernel SIGKILL the plugin when the daemon dies, so a
// killed daemon (kill -9, OOM) leaves no plugin behind; being in another
// process group does not change that. The signal follows the thread that
// started the plugin; Go keeps that thread for the life of the process
// unless a goroutine locked to it exits, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
