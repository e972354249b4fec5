package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/teststore"
)

// vmPrefix starts the name of every VM the end-to-end tests create, so
// that a run sweeps what an earlier, failed one left on qemu:///system.
const vmPrefix = "qx-e2e-"

// e2e is what the end-to-end tests share.
var e2e struct {
	daemon     string // the quantixd binary
	daemonErr  error
	imageDir   string // image_dir of the libvirt plugin, mode 0755
	libvirtErr error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer teststore.Cleanup()
	defer testbin.Cleanup()
	defer testguest.Cleanup()
	e2e.libvirtErr = testlibvirt.CheckLibvirt()
	if e2e.libvirtErr == nil {
		for _, prefix := range []string{vmPrefix, recPrefix, consolePrefix, guestPrefix} {
			if err := testlibvirt.Sweep(prefix); err != nil {
				fmt.Fprintln(os.Stderr, "sweeping leftovers of earlier runs:", err)
			}
		}
	}
	e2e.daemon, e2e.daemonErr = testbin.Daemon()
	dir, err := os.MkdirTemp("", vmPrefix+"images-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "making the image dir:", err)
		return 1
	}
	e2e.imageDir = dir
	code := m.Run()
	if e2e.libvirtErr == nil {
		for _, prefix := range []string{vmPrefix, recPrefix, consolePrefix, guestPrefix} {
			if err := testlibvirt.Sweep(prefix); err != nil {
				fmt.Fprintln(os.Stderr, "sweeping what the tests left:", err)
				code = 1
			}
		}
	}
	_ = os.RemoveAll(dir)
	if cliBuild.path != "" {
		_ = os.RemoveAll(filepath.Dir(cliBuild.path))
	}
	return code
}
