package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestConcurrentChurn runs power actions, scripted changes, creates,
// deletes, listings and moves between two hosts from many goroutines at
// once (run it with -race), then checks that replaying each host's events
// gives exactly what the host lists: every change was announced, in order.
func TestConcurrentChurn(t *testing.T) {
	const (
		vmsPerHost = 50
		workers    = 16
		opsEach    = 400
	)
	ctx := context.Background()
	hosts := []*Backend{
		newSim(t, Config{Hostname: "churn-a", VMs: VMsConfig{Count: vmsPerHost}}, WithEventBuffer(1<<16)),
		newSim(t, Config{Hostname: "churn-b", VMs: VMsConfig{Count: vmsPerHost}}, WithEventBuffer(1<<16)),
	}
	watchers := []*events{watch(t, hosts[0]), watch(t, hosts[1])}
	initial := map[*Backend][]*backend.VM{}
	var ids []string
	for _, h := range hosts {
		vms, err := h.ListVMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		initial[h] = vms
		for _, vm := range vms {
			ids = append(ids, vm.ID)
		}
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var unexpected []string
	var nops int
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range opsEach {
				h := hosts[r.IntN(2)]
				id := ids[r.IntN(len(ids))]
				what, err := churnOp(ctx, r, h, hosts, id, fmt.Sprintf("churn-w%d-%d", w, i))
				switch plugin.KindOf(err) {
				case plugin.KindConflict, plugin.KindNotFound:
				default:
					if err != nil {
						mu.Lock()
						unexpected = append(unexpected, fmt.Sprintf("%s: %v", what, err))
						mu.Unlock()
					}
				}
			}
			mu.Lock()
			nops += opsEach
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, u := range unexpected {
		t.Errorf("unexpected error: %s", u)
	}

	// A last VM made on each host marks the end of its events: they are
	// delivered in order, so once the marker's creation has arrived every
	// event published before it has too. Without it, a replay could match
	// the listing while a create, start and delete of one VM, which cancel
	// out, were still on their way.
	for i, h := range hosts {
		marker, err := h.CreateVM(ctx, minimalSpec(fmt.Sprintf("churn-end-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 10*time.Second, fmt.Sprintf("host %d's marker VM to be announced", i), func() bool {
			evs := watchers[i].snapshot()
			return len(evs) > 0 && evs[len(evs)-1].VMID == marker.ID && evs[len(evs)-1].Type == backend.EventCreated
		})
	}

	seen := map[string]int{}
	for i, h := range hosts {
		vms, err := h.ListVMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]backend.PowerState{}
		names := map[string]bool{}
		for _, vm := range vms {
			want[vm.ID] = vm.State
			seen[vm.ID]++
			if names[vm.Name] {
				t.Errorf("host %d lists the name %q twice", i, vm.Name)
			}
			names[vm.Name] = true
		}
		// The events, replayed, come to what the host lists.
		var n int
		wait.UntilNil(t, 10*time.Second, fmt.Sprintf("host %d's events to replay to its listing", i), func() error {
			evs := watchers[i].snapshot()
			n = len(evs)
			replayed := map[string]backend.PowerState{}
			for _, vm := range initial[h] {
				replayed[vm.ID] = vm.State
			}
			for _, ev := range evs {
				switch ev.Type {
				case backend.EventCreated, backend.EventStateChanged:
					replayed[ev.VMID] = ev.State
				case backend.EventDeleted:
					delete(replayed, ev.VMID)
				case backend.EventResync:
					t.Fatalf("host %d sent a resync with a buffer of %d: events were lost", i, 1<<16)
				}
			}
			if len(replayed) != len(want) {
				return fmt.Errorf("%d events give %d VMs, ListVMs %d", n, len(replayed), len(want))
			}
			for id, st := range want {
				if replayed[id] != st {
					return fmt.Errorf("%d events: VM %s is %s, its events say %q", n, id, st, replayed[id])
				}
			}
			return nil
		})
		wait.Stays(t, 50*time.Millisecond, fmt.Sprintf("no event of host %d after the %d that replay to its listing", i, n),
			func() bool { return len(watchers[i].snapshot()) == n })
		t.Logf("host %d: %d VMs, %d events", i, len(vms), n)
	}
	for _, id := range ids {
		if seen[id] > 1 {
			t.Errorf("VM %s is on both hosts", id)
		}
	}
	t.Logf("%d operations", nops)
}

// churnOp does one random operation and says what it did.
func churnOp(ctx context.Context, r *rand.Rand, h *Backend, hosts []*Backend, id, name string) (string, error) {
	other := hosts[0]
	if other == h {
		other = hosts[1]
	}
	switch r.IntN(14) {
	case 0:
		_, err := h.StartVM(ctx, id)
		return "StartVM", err
	case 1:
		_, err := h.StopVM(ctx, id, backend.StopOptions{Force: r.IntN(2) == 0})
		return "StopVM", err
	case 2:
		_, err := h.PauseVM(ctx, id)
		return "PauseVM", err
	case 3:
		_, err := h.ResumeVM(ctx, id)
		return "ResumeVM", err
	case 4:
		_, err := h.RebootVM(ctx, id)
		return "RebootVM", err
	case 5:
		_, err := h.Crash(id)
		return "Crash", err
	case 6:
		_, err := h.GuestShutdown(id)
		return "GuestShutdown", err
	case 7:
		_, err := h.SetState(id, knownStates[r.IntN(len(knownStates))])
		return "SetState", err
	case 8:
		_, err := h.Move(id, other)
		return "Move", err
	case 9:
		vms, err := h.ListVMs(ctx)
		if err == nil && len(vms) == 0 {
			err = fmt.Errorf("listed no VM")
		}
		return "ListVMs", err
	case 10:
		_, err := h.GetVM(ctx, id)
		return "GetVM", err
	case 11:
		vm, err := h.CreateVM(ctx, minimalSpec(name))
		if err != nil {
			return "CreateVM", err
		}
		if _, err := h.StartVM(ctx, vm.ID); err != nil {
			return "StartVM of a new VM", err
		}
		return "DeleteVM(Force)", h.DeleteVM(ctx, vm.ID, backend.DeleteOptions{Force: true})
	case 12:
		_, err := h.TailLog(ctx, id, 5)
		return "TailLog", err
	default:
		_, err := h.AddForeign(minimalSpec(name))
		return "AddForeign", err
	}
}
