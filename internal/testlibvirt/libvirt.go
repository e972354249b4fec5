// Package testlibvirt gives tests the host's libvirtd (qemu:///system,
// which `make deps` installs and starts): checking and holding it, looking
// at and sweeping its domains with virsh, the definition of a domain made
// outside Quantix; and the libvirt backend plugin on libvirt's in-memory
// test driver (LaunchTestDriver), which needs no libvirtd.
//
// Tests that need libvirtd fail, not skip, when it is not reachable,
// saying to run `make deps`.
package testlibvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/hostlock"
	"github.com/quantixvm/quantix/internal/wait"
)

// QEMUURI is the libvirtd the end-to-end tests drive.
const QEMUURI = "qemu:///system"

// QEMULogDir is where libvirt keeps the QEMU log of each domain.
const QEMULogDir = "/var/log/libvirt/qemu"

func virsh(args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", QEMUURI}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// CheckLibvirt says why qemu:///system cannot be used, or nil.
func CheckLibvirt() error {
	if _, err := exec.LookPath("virsh"); err != nil {
		return fmt.Errorf("virsh not found: %w", err)
	}
	// Not while another package's test restarts libvirtd.
	release, err := hostlock.Hold()
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	if out, err := virsh("version"); err != nil {
		return fmt.Errorf("virsh -c %s version: %v: %s", QEMUURI, err, out)
	}
	return nil
}

// RequireLibvirt fails the test when qemu:///system cannot be used.
func RequireLibvirt(t testing.TB) {
	t.Helper()
	if err := CheckLibvirt(); err != nil {
		failUnusable(t, err)
	}
}

func failUnusable(t testing.TB, err error) {
	t.Helper()
	t.Fatalf("libvirtd with QEMU is not usable (%v): run `make deps` (scripts/setup-host.sh) to install and start it", err)
}

// UseLibvirt holds the host's libvirtd for t (hostlock.Libvirtd: no other
// package's test restarts it meanwhile), giving it 30s to answer (a test
// of another package may just have restarted it), and fails the test when
// it does not.
func UseLibvirt(t testing.TB) {
	t.Helper()
	hostlock.Libvirtd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := wait.Poll(ctx, CheckLibvirt); err != nil {
		failUnusable(t, err)
	}
}

// ForeignDomainXML is the definition of a domain as someone outside
// Quantix would define it with virsh: 64 MiB, one vCPU, a pty console and
// no disk (it boots into the firmware); KVM when /dev/kvm exists, else TCG.
func ForeignDomainXML(name string) string {
	typ := "qemu"
	if _, err := os.Stat("/dev/kvm"); err == nil {
		typ = "kvm"
	}
	return fmt.Sprintf(`<domain type=%q>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><serial type='pty'/></devices>
</domain>`, typ, name)
}

// DomState returns what `virsh domstate` says of the domain called name
// ("running", "shut off", ...); ok is false when there is no such domain.
func DomState(name string) (state string, ok bool, err error) {
	out, err := virsh("domstate", name)
	if err != nil {
		if strings.Contains(out, "failed to get domain") || strings.Contains(out, "Domain not found") {
			return "", false, nil
		}
		return "", false, fmt.Errorf("virsh domstate %s: %v: %s", name, err, out)
	}
	return out, true, nil
}

// DomainNames lists every domain of qemu:///system, active or not.
func DomainNames() ([]string, error) {
	out, err := virsh("list", "--all", "--name")
	if err != nil {
		return nil, fmt.Errorf("virsh list: %v: %s", err, out)
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names, nil
}

// RemoveDomain destroys and undefines the domain called name, if any.
func RemoveDomain(name string) error {
	if _, ok, err := DomState(name); err != nil || !ok {
		return err
	}
	_, _ = virsh("destroy", name)
	if out, err := virsh("undefine", "--nvram", name); err != nil {
		if out2, err2 := virsh("undefine", name); err2 != nil {
			return fmt.Errorf("virsh undefine %s: %v: %s; %s", name, err, out, out2)
		}
	}
	return nil
}

// Sweep removes the domains whose name starts with prefix, their QEMU logs
// and the storage pools whose directory's name starts with prefix: what a
// run, or an earlier failed one, left.
//
// It holds the host's libvirtd (hostlock.Hold) meanwhile: a sweep that runs
// while another package's test restarts libvirtd waits for it.
func Sweep(prefix string) error {
	release, err := hostlock.Hold()
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	names, err := DomainNames()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			errs = append(errs, RemoveDomain(n))
		}
	}
	logs, _ := filepath.Glob(filepath.Join(QEMULogDir, prefix+"*.log"))
	for _, l := range logs {
		if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	pools, err := virsh("pool-list", "--all", "--name")
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("virsh pool-list: %v: %s", err, pools))...)
	}
	for _, p := range strings.Split(pools, "\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		doc, err := virsh("pool-dumpxml", p)
		if err != nil || !strings.Contains(doc, "/"+prefix) {
			continue
		}
		_, _ = virsh("pool-destroy", p)
		if out, err := virsh("pool-undefine", p); err != nil {
			errs = append(errs, fmt.Errorf("virsh pool-undefine %s: %v: %s", p, err, out))
		}
	}
	return errors.Join(errs...)
}
