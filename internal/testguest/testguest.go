// Package testguest gives tests a real Linux guest that boots in seconds:
// the kernel and initramfs scripts/build-test-guest.sh makes from Debian's
// kernel and busybox (installed by `make deps`), built once per test
// process. Boot it with direct kernel boot (backend.VMSpec Kernel, Initrd,
// Cmdline) and the command line Cmdline; it prints Ready on its serial
// console (ttyS0) and then runs a root shell there with the prompt Prompt.
// It powers off on `poweroff` and on the ACPI power button, and reboots on
// `reboot`. Call Cleanup from TestMain to remove what it built.
package testguest

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/internal/testbin"
)

// The guest's contract with tests.
const (
	// Ready is the line the guest prints on ttyS0 once it is up.
	Ready = "quantix-test-guest ready"
	// Prompt is its shell's prompt in /.
	Prompt = "/ # "
	// Cmdline is the kernel command line to boot it with.
	Cmdline = "console=ttyS0 quiet"
	// MemoryMiB is enough memory for it.
	MemoryMiB = 256
)

// Guest is a built test guest: files QEMU, running as another user, can
// read.
type Guest struct {
	Kernel string
	Initrd string
}

var built struct {
	mu    sync.Mutex
	dir   string
	guest Guest
	err   error
}

// Build returns the test guest, building it on first use, and fails t when
// it cannot be built (say which package `make deps` installs).
func Build(t testing.TB) Guest {
	t.Helper()
	g, err := build()
	if err != nil {
		t.Fatalf("the test guest is needed: %v", err)
	}
	return g
}

func build() (Guest, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" || built.err != nil {
		return built.guest, built.err
	}
	built.guest, built.err = buildOnce()
	return built.guest, built.err
}

func buildOnce() (Guest, error) {
	root, err := testbin.RepoRoot()
	if err != nil {
		return Guest{}, err
	}
	// os.MkdirTemp makes a 0700 directory; QEMU's user must be able to
	// enter it (/tmp itself is open to all).
	dir, err := os.MkdirTemp("", "quantix-test-guest-")
	if err != nil {
		return Guest{}, err
	}
	built.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return Guest{}, err
	}
	script := filepath.Join(root, "scripts", "build-test-guest.sh")
	cmd := exec.Command("bash", script, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Guest{}, fmt.Errorf("%s %s: %w (run `make deps` to install the kernel and busybox it needs)\n%s", script, dir, err, out)
	}
	return Guest{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}, nil
}

// Cleanup removes the guest built, if any. Call it from TestMain after
// m.Run.
func Cleanup() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// DomainXML is the libvirt definition of a domain named name that boots
// the guest g directly with Cmdline, one vCPU and memoryMiB MiB, its
// serial port and console a pty, no balloon; it is destroyed on poweroff
// and restarted on reboot. Its type is kvm where /dev/kvm exists, qemu
// (TCG) elsewhere. Tests define it with virsh, as someone outside Quantix
// would.
func (g Guest) DomainXML(name string, memoryMiB int) string {
	typ := "qemu"
	if _, err := os.Stat("/dev/kvm"); err == nil {
		typ = "kvm"
	}
	return fmt.Sprintf(`<domain type='%s'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><initrd>%s</initrd><cmdline>%s</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
`, typ, xmlText(name), memoryMiB, xmlText(g.Kernel), xmlText(g.Initrd), xmlText(Cmdline))
}

// xmlText is s escaped as XML character data.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
