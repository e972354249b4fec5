package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/testguest/serial"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// guestPrefix starts the names of the VMs booting the test guest.
// Each package that boots it has its own, as each sweeps its own leftovers
// while the other may be running.
const guestPrefix = "qx-g-e2e-"

// guestTimeout bounds one boot or shutdown of the test guest: seconds on
// KVM; under TCG, on a busy machine, minutes.
func guestTimeout() time.Duration {
	if _, err := os.Stat("/dev/kvm"); err == nil {
		return 60 * time.Second
	}
	return 5 * time.Minute
}

// guestVMName returns a unique name for a VM booting the test guest, whose
// domain is removed when the test ends.
func guestVMName(t testing.TB) string {
	name := guestPrefix + testid.Hex(4)
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	return name
}

// guestCreateBody is the body of POST /api/vms for a VM booting the test
// guest.
func guestCreateBody(t testing.TB, g testguest.Guest, name, policy string) string {
	b, err := json.Marshal(map[string]any{
		"name": name, "vcpus": 1, "memory_mib": testguest.MemoryMiB, "restart_policy": policy,
		"kernel": g.Kernel, "initrd": g.Initrd, "cmdline": testguest.Cmdline,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// vmEvents returns a VM's history as the API shows it.
func vmEvents(t *testing.T, d *proc, id string) []map[string]any {
	t.Helper()
	r := d.must(t, http.StatusOK, "GET", "/api/vms/"+id+"/events?limit=1000", "")
	var out []map[string]any
	for _, e := range r.body["events"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// TestE2EGuest boots the test guest through the API of `quantixd dev`
// (real agent and libvirt plugin processes, real QEMU) and watches it on
// its serial console, opened with libvirt by the test: it boots to its
// shell; a graceful stop is honoured by the guest, without a fallback to
// destroy; `poweroff` typed in the guest is a guest shutdown after which
// the restart policy always has the control plane start it again; `reboot`
// typed in the guest brings it back while the VM stays RUNNING.
func TestE2EGuest(t *testing.T) {
	requireE2E(t)
	g := testguest.Build(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeConfig(t, dir, "sqlite", ""), "-data-dir", dir)
	name := guestVMName(t)

	r := d.must(t, http.StatusCreated, "POST", "/api/vms", guestCreateBody(t, g, name, "always"))
	id := r.str("id")
	if r.str("spec.kernel") != g.Kernel || r.str("spec.initrd") != g.Initrd || r.str("spec.cmdline") != testguest.Cmdline {
		t.Fatalf("created: %s; want the kernel boot asked for", r.raw)
	}

	// It boots to its shell.
	d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", "")
	con := serial.Open(t, testlibvirt.QEMUURI, name)
	took := con.Wait(t, guestTimeout(), testguest.Ready)
	con.Wait(t, guestTimeout(), testguest.Prompt)
	t.Logf("ready line %s after the console opened", took.Round(time.Millisecond))
	if out := con.Run(t, guestTimeout(), "echo qx-$((6*7))", testguest.Prompt); out != "qx-42" {
		t.Fatalf("echo in the guest printed %q, want qx-42", out)
	}

	// A graceful stop: the guest shuts down when asked.
	timeout := guestTimeout()
	r = d.must(t, http.StatusOK, "POST", fmt.Sprintf("/api/vms/%s/stop?timeout=%s", name, timeout), "")
	if r.str("vm.state") != "STOPPED" || r.str("message") != "VM stopped: the guest shut down" {
		t.Fatalf("graceful stop: %s; want STOPPED by a guest shutdown", r.raw)
	}
	con.WaitEnd(t, guestTimeout())
	evs := vmEvents(t, d, id)
	if last := evs[len(evs)-1]; last["action"] != "stop" || last["message"] != "VM stopped: the guest shut down" {
		t.Errorf("the stop's event: %v", last)
	}

	// poweroff in the guest: a guest shutdown, then the restart policy.
	d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", "")
	if got := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "").str("desired_state"); got != "running" {
		t.Fatalf("desired_state after start = %q", got)
	}
	con = serial.Open(t, testlibvirt.QEMUURI, name)
	con.Wait(t, guestTimeout(), testguest.Ready)
	con.Wait(t, guestTimeout(), testguest.Prompt)
	before := len(vmEvents(t, d, id))
	con.Send(t, "poweroff\n")
	con.WaitEnd(t, guestTimeout())
	var stopped map[string]any
	wait.UntilNil(t, guestTimeout(), "the host's report of the guest shutdown", func() error {
		for _, e := range vmEvents(t, d, id)[before:] {
			if e["new_state"] == "STOPPED" && e["cause"] == "host" {
				stopped = e
				return nil
			}
		}
		return fmt.Errorf("no STOPPED event caused by the host yet")
	})
	// libvirt names a shutdown the guest made itself "guest" (its shutdown
	// event's detail) or "shutdown" (the stopped event's), never
	// "destroyed" or "crashed".
	if msg, _ := stopped["message"].(string); !(strings.Contains(msg, "STOPPED (guest)") || strings.Contains(msg, "STOPPED (shutdown)")) ||
		!strings.Contains(msg, "restarting it") {
		t.Errorf("the guest shutdown's event says %q; want a guest shutdown reported by the host and the restart", msg)
	}
	wait.UntilNil(t, guestTimeout(), name+" restarted by its restart policy", func() error {
		v := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "")
		if s := v.str("state"); s != "RUNNING" {
			return fmt.Errorf("state %s (%s)", s, v.str("message"))
		}
		if s := domState(t, name); s != "running" {
			return fmt.Errorf("virsh says %s", s)
		}
		return nil
	})
	// The restarted guest comes up to its shell (its ready line may have
	// gone by before the console opened: an empty line brings a prompt).
	con = serial.Open(t, testlibvirt.QEMUURI, name)
	con.Send(t, "\n")
	con.Wait(t, guestTimeout(), testguest.Prompt)

	// reboot in the guest: it comes back, the VM stays RUNNING.
	before = len(vmEvents(t, d, id))
	con.Mark()
	con.Send(t, "reboot\n")
	con.Wait(t, guestTimeout(), testguest.Ready)
	con.Wait(t, guestTimeout(), testguest.Prompt)
	if out := con.Run(t, guestTimeout(), "echo qx-$((6*7))", testguest.Prompt); out != "qx-42" {
		t.Fatalf("echo in the rebooted guest printed %q, want qx-42", out)
	}
	if v := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, ""); v.str("state") != "RUNNING" {
		t.Errorf("after the guest rebooted: %s", v.raw)
	}
	for _, e := range vmEvents(t, d, id)[before:] {
		if e["new_state"] != "RUNNING" {
			t.Errorf("event %v while the guest rebooted; the VM must stay RUNNING", e)
		}
	}

	d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/stop?force=true", "")
	d.must(t, http.StatusOK, "DELETE", "/api/vms/"+name, "")
	d.stop(t)
}
