package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// statsPrefix names what the stats tests leave on the host.
const statsPrefix = "qx-m-"

// statsConsole is the serial console of a running domain, opened with
// libvirt directly: what the guest wrote so far, and a way to type.
type statsConsole struct {
	st  *libvirt.Stream
	mu  sync.Mutex
	out strings.Builder
}

func openStatsConsole(t *testing.T, b *Backend, id string) *statsConsole {
	t.Helper()
	gc := &statsConsole{}
	libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
		dom, err := c.LookupDomainByUUIDString(id)
		if err != nil {
			t.Fatal(err)
		}
		defer dom.Free()
		st, err := c.NewStream(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := dom.OpenConsole("", st, libvirt.DOMAIN_CONSOLE_FORCE); err != nil {
			t.Fatalf("opening the console: %v", err)
		}
		gc.st = st
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := gc.st.Recv(buf)
			if n > 0 {
				gc.mu.Lock()
				gc.out.Write(buf[:n])
				gc.mu.Unlock()
			}
			if err != nil || n == 0 {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = gc.st.Abort()
		<-done
		_ = gc.st.Free()
	})
	return gc
}

func (g *statsConsole) text() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// run types a command line and waits until the guest printed mark (a
// command echoes it when done).
func (g *statsConsole) run(t *testing.T, line, mark string, within time.Duration) {
	t.Helper()
	before := len(g.text())
	if _, err := g.st.Send([]byte(line + "\n")); err != nil {
		t.Fatalf("typing %q: %v", line, err)
	}
	wait.Until(t, within, fmt.Sprintf("the guest to print %q after %q", mark, line), func() bool {
		return strings.Contains(g.text()[before:], mark)
	})
}

// statsBridge makes a Linux bridge of its own, the host at
// 192.168.<n>.1 on it, removed when the test ends.
func statsBridge(t *testing.T, name string, n int) {
	t.Helper()
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("link", "add", name, "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ip("link", "del", name); err != nil {
			t.Error(err)
		}
	})
	for _, args := range [][]string{{"addr", "add", fmt.Sprintf("192.168.%d.1/24", n), "dev", name}, {"link", "set", name, "up"}} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
}

func statsOfVM(t *testing.T, b *Backend, id string) backend.VMStats {
	t.Helper()
	h, err := b.CollectStats(context.Background())
	if err != nil {
		t.Fatalf("CollectStats: %v", err)
	}
	for _, v := range h.VMs {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("CollectStats does not list VM %s", id)
	return backend.VMStats{}
}

// TestQEMUStatsOfABusyGuest boots the test guest with a disk and a NIC on a
// bridge of its own and checks, through CollectStats, that its CPU time
// rises while it runs a busy loop, its disk counters move when it reads
// and writes its disk, and its network counters when it pings the host.
func TestQEMUStatsOfABusyGuest(t *testing.T) {
	b := newQEMUBackend(t)
	g := testguest.Build(t)
	rb := make([]byte, 4)
	if _, err := rand.Read(rb); err != nil {
		t.Fatal(err)
	}
	name := statsPrefix + hex.EncodeToString(rb)
	subnet := 200 + int(rb[0])%50
	bridge := "qxm" + hex.EncodeToString(rb)
	statsBridge(t, bridge, subnet)
	vm := createVM(t, b, backend.VMSpec{
		Name: name, VCPUs: 1, MemoryMiB: testguest.MemoryMiB,
		Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: testguest.Cmdline,
		Disks: []backend.DiskSpec{{SizeGiB: 1}},
		NICs:  []backend.NICSpec{{Type: backend.NICBridge, Source: bridge}},
	})
	if _, err := b.StartVM(context.Background(), vm.ID); err != nil {
		t.Fatal(err)
	}
	con := openStatsConsole(t, b, vm.ID)
	wait.Until(t, 90*time.Second, "the guest's ready line", func() bool { return strings.Contains(con.text(), testguest.Ready) })
	con.run(t, "", testguest.Prompt, 10*time.Second)

	// CPU: a busy loop in the background.
	s0 := statsOfVM(t, b, vm.ID)
	if s0.State != backend.StateRunning || s0.MemoryBytes == 0 || len(s0.Disks) == 0 || len(s0.NICs) == 0 {
		t.Fatalf("stats of the running guest = %+v, want RUNNING with memory, a disk and a NIC", s0)
	}
	con.run(t, "(while :; do :; done) & echo busy-started", "busy-started", 10*time.Second)
	wait.Until(t, 30*time.Second, "the guest's CPU time to rise by 2s while it spins", func() bool {
		return statsOfVM(t, b, vm.ID).CPUTime-s0.CPUTime >= 2*time.Second
	})
	con.run(t, "kill %1; echo busy-stopped", "busy-stopped", 10*time.Second)

	// Disk: read 32 MiB of it, write 8 MiB.
	d0 := statsOfVM(t, b, vm.ID).Disks[0]
	con.run(t, "dd if=/dev/vda of=/dev/null bs=1M count=32 && dd if=/dev/zero of=/dev/vda bs=1M count=8 && sync && echo disk-done", "disk-done", 60*time.Second)
	wait.Until(t, 10*time.Second, "disk counters to move", func() bool {
		d := statsOfVM(t, b, vm.ID).Disks[0]
		return d.ReadBytes >= d0.ReadBytes+32<<20 && d.WriteBytes >= d0.WriteBytes+8<<20 && d.ReadOps > d0.ReadOps && d.WriteOps > d0.WriteOps
	})

	// Network: ping the host on the network's bridge.
	n0 := statsOfVM(t, b, vm.ID).NICs[0]
	con.run(t, fmt.Sprintf("ip link set eth0 up && ip addr add 192.168.%d.2/24 dev eth0 && ping -c 5 -W 2 192.168.%d.1; echo net-done", subnet, subnet), "net-done", 60*time.Second)
	wait.Until(t, 10*time.Second, "network counters to move", func() bool {
		n := statsOfVM(t, b, vm.ID).NICs[0]
		return n.TxPackets >= n0.TxPackets+5 && n.RxPackets >= n0.RxPackets+5 && n.TxBytes > n0.TxBytes && n.RxBytes > n0.RxBytes
	})
	t.Logf("guest stats at the end: %+v", statsOfVM(t, b, vm.ID))
}
