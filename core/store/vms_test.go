package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
)

var ctx = context.Background()

// fullVM is a VM with every field set.
func fullVM(id, name string) *vm.VM {
	seen := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	return &vm.VM{
		ID:            id,
		Name:          name,
		Description:   "a web server",
		Labels:        map[string]string{"env": "prod", "tier": "web"},
		Origin:        vm.OriginControlPlane,
		IsManaged:     true,
		DesiredState:  vm.DesiredRunning,
		RestartPolicy: vm.RestartOnCrash,
		Spec: vm.Spec{
			VCPUs:     4,
			MemoryMiB: 8192,
			Disks: []vm.Disk{
				{Name: "root", SizeGiB: 40, BaseImage: "debian-12.qcow2", Bus: "virtio", Path: "/var/lib/quantix/" + id + "-root.qcow2"},
				{Name: "data", SizeGiB: 1 << 40},
			},
			NICs: []vm.NIC{{Type: "network", Source: "default", MAC: "52:54:00:12:34:56", Model: "virtio"}},
			Boot: []string{"hd", "network"},
		},
		NodeID:         "node-1",
		State:          vm.StateRunning,
		LastKnownState: vm.StateStarting,
		StateChangedAt: time.Date(2026, 3, 1, 9, 59, 0, 999999999, time.UTC),
		LastSeen:       &seen,
		Message:        "started",
		CreatedAt:      time.Date(2026, 2, 28, 8, 0, 0, 1000, time.UTC),
	}
}

// bareVM is a VM with nothing but what is required, nil maps and slices.
func bareVM(id, name string) *vm.VM {
	return &vm.VM{ID: id, Name: name, Origin: vm.OriginControlPlane, IsManaged: true, State: vm.StateStopped}
}

func discoveredVM(id, name, nodeID string) *vm.VM {
	v := bareVM(id, name)
	v.Origin, v.IsManaged, v.NodeID, v.State = vm.OriginHostDiscovered, false, nodeID, vm.StateRunning
	return v
}

func mustCreate(t testing.TB, s *sqlStore, v *vm.VM) {
	t.Helper()
	if err := s.VMs().Create(ctx, v); err != nil {
		t.Fatalf("Create(%s): %v", v.ID, err)
	}
}

func mustGet(t testing.TB, s *sqlStore, id string) *vm.VM {
	t.Helper()
	v, err := s.VMs().Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return v
}

// assertVMEqual compares VMs after normalising their times to UTC.
func assertVMEqual(t testing.TB, got, want *vm.VM) {
	t.Helper()
	g, w := utcTimes(*got), utcTimes(*want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("VM read back differs:\n got %+v\nwant %+v", g, w)
	}
}

func utcTimes(v vm.VM) vm.VM {
	v.StateChangedAt = v.StateChangedAt.UTC()
	v.CreatedAt = v.CreatedAt.UTC()
	v.UpdatedAt = v.UpdatedAt.UTC()
	if v.LastSeen != nil {
		t := v.LastSeen.UTC()
		v.LastSeen = &t
	}
	if v.LostAt != nil {
		t := v.LostAt.UTC()
		v.LostAt = &t
	}
	if v.ObservedAt != nil {
		t := v.ObservedAt.UTC()
		v.ObservedAt = &t
	}
	return v
}

func TestVMCreateGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		lost := time.Date(2026, 1, 2, 3, 4, 5, 6007, time.FixedZone("PST", -8*3600))
		lostVM := fullVM("vm-lost", "lost-one")
		lostVM.State, lostVM.LostReason, lostVM.LostAt = vm.StateLost, "vanished from node-1", &lost
		cases := []struct {
			name string
			v    *vm.VM
		}{
			{"full", fullVM("vm-full", "web-1")},
			{"bare with nil labels and slices", bareVM("vm-bare", "bare")},
			{"host-discovered", discoveredVM("vm-disc", "found", "node-2")},
			{"lost", lostVM},
			{"unicode and quotes", func() *vm.VM {
				v := bareVM("vm-ü", `naïve "quoted" 'name'`)
				v.Labels = map[string]string{"ключ": "значение", "": "empty key", "k": ""}
				v.Description = "line1\nline2\ttab \\ backslash"
				return v
			}()},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				zeroCreated := tc.v.CreatedAt.IsZero()
				before := time.Now().Truncate(time.Microsecond)
				if err := s.VMs().Create(ctx, tc.v); err != nil {
					t.Fatalf("Create: %v", err)
				}
				if tc.v.Version != 1 {
					t.Errorf("Version after Create = %d, want 1", tc.v.Version)
				}
				if tc.v.Labels == nil || tc.v.Spec.Disks == nil || tc.v.Spec.NICs == nil || tc.v.Spec.Boot == nil {
					t.Errorf("Create left nil labels or spec slices: %+v", tc.v)
				}
				if zeroCreated && (tc.v.CreatedAt.Before(before) || tc.v.CreatedAt.After(time.Now())) {
					t.Errorf("CreatedAt = %v, want the time of Create", tc.v.CreatedAt)
				}
				if tc.v.UpdatedAt.IsZero() || tc.v.StateChangedAt.IsZero() {
					t.Errorf("UpdatedAt or StateChangedAt not set: %+v", tc.v)
				}
				got := mustGet(t, s, tc.v.ID)
				assertVMEqual(t, got, tc.v)
				byName, err := s.VMs().GetByName(ctx, tc.v.Name)
				if err != nil {
					t.Fatalf("GetByName(%q): %v", tc.v.Name, err)
				}
				assertVMEqual(t, byName, tc.v)
			})
		}
		t.Run("missing", func(t *testing.T) {
			if _, err := s.VMs().Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(missing) = %v, want ErrNotFound", err)
			}
			if _, err := s.VMs().GetByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetByName(missing) = %v, want ErrNotFound", err)
			}
		})
		t.Run("empty id", func(t *testing.T) {
			if err := s.VMs().Create(ctx, bareVM("", "x")); !errors.Is(err, ErrInvalid) {
				t.Errorf("Create(empty id) = %v, want ErrInvalid", err)
			}
		})
	})
}

func TestVMTimesRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		zones := []*time.Location{time.UTC, time.FixedZone("plus1345", 13*3600+45*60), time.FixedZone("minus11", -11*3600)}
		times := []time.Time{
			time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Date(2026, 6, 15, 12, 30, 45, 123456000, time.UTC),
			time.Date(2026, 6, 15, 12, 30, 45, 1, time.UTC),
			time.Date(2100, 2, 28, 0, 0, 0, 500, time.UTC),
			time.Now(), // with a monotonic reading
		}
		i := 0
		for _, z := range zones {
			for _, tm := range times {
				i++
				in := tm.In(z)
				v := bareVM(fmt.Sprintf("vm-%02d", i), fmt.Sprintf("t%02d", i))
				v.CreatedAt, v.StateChangedAt, v.LastSeen, v.LostAt = in, in, &in, &in
				mustCreate(t, s, v)
				want := tm.UTC().Truncate(time.Microsecond)
				got := mustGet(t, s, v.ID)
				for name, g := range map[string]time.Time{"created_at": got.CreatedAt, "state_changed_at": got.StateChangedAt,
					"last_seen": *got.LastSeen, "lost_at": *got.LostAt} {
					if !g.Equal(want) || g.Location() != time.UTC {
						t.Errorf("%s of %v (%s) read back as %v, want %v UTC", name, tm, z, g, want)
					}
				}
				assertVMEqual(t, got, v)
			}
		}
	})
}

func TestVMConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cases := []struct {
			name string
			// first is stored, then second is created.
			first, second *vm.VM
			// terminateFirst moves first to TERMINATED before second.
			terminateFirst bool
			wantErr        error
		}{
			{"same id", bareVM("a", "one"), bareVM("a", "two"), false, ErrConflict},
			{"managed same name", bareVM("a", "web"), bareVM("b", "web"), false, ErrConflict},
			{"imported vs control-plane same name", func() *vm.VM { v := bareVM("a", "web"); v.Origin = vm.OriginImported; return v }(),
				bareVM("b", "web"), false, ErrConflict},
			{"discovered same name on two nodes", discoveredVM("a", "web", "n1"), discoveredVM("b", "web", "n2"), false, nil},
			{"discovered same name on one node", discoveredVM("a", "web", "n1"), discoveredVM("b", "web", "n1"), false, nil},
			{"managed then discovered same name", bareVM("a", "web"), discoveredVM("b", "web", "n1"), false, nil},
			{"discovered then managed same name", discoveredVM("a", "web", "n1"), bareVM("b", "web"), false, nil},
			{"terminated frees the name", bareVM("a", "web"), bareVM("b", "web"), true, nil},
			{"name differs only in case", bareVM("a", "web"), bareVM("b", "Web"), false, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s, _ := openFresh(t, b)
				mustCreate(t, s, tc.first)
				if tc.terminateFirst {
					tc.first.State = vm.StateTerminated
					if err := s.VMs().Update(ctx, tc.first); err != nil {
						t.Fatalf("Update to TERMINATED: %v", err)
					}
				}
				snapshot := *tc.second
				err := s.VMs().Create(ctx, tc.second)
				if tc.wantErr == nil {
					if err != nil {
						t.Fatalf("Create second: %v", err)
					}
					assertVMEqual(t, mustGet(t, s, tc.second.ID), tc.second)
					return
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Create second = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "creating vm "+tc.second.ID) {
					t.Errorf("error %q lacks context", err)
				}
				reason := "the name is taken by another managed vm"
				if tc.first.ID == tc.second.ID {
					reason = "a vm with this id exists"
				}
				if !strings.Contains(err.Error(), reason) {
					t.Errorf("error %q does not say %q", err, reason)
				}
				if !reflect.DeepEqual(*tc.second, snapshot) {
					t.Errorf("failed Create changed its argument: %+v", tc.second)
				}
				// The stored VM is the first one, untouched.
				assertVMEqual(t, mustGet(t, s, tc.first.ID), tc.first)
			})
		}

		t.Run("GetByName prefers managed and skips terminated", func(t *testing.T) {
			s, _ := openFresh(t, b)
			old := bareVM("old", "db")
			old.CreatedAt = time.Now().Add(-time.Hour)
			mustCreate(t, s, old)
			old.State = vm.StateTerminated
			if err := s.VMs().Update(ctx, old); err != nil {
				t.Fatal(err)
			}
			disc := discoveredVM("disc", "db", "n1")
			disc.CreatedAt = time.Now().Add(-time.Minute)
			mustCreate(t, s, disc)
			got, err := s.VMs().GetByName(ctx, "db")
			if err != nil || got.ID != "disc" {
				t.Fatalf("GetByName = %v, %v; want disc", got, err)
			}
			mustCreate(t, s, bareVM("managed", "db"))
			got, err = s.VMs().GetByName(ctx, "db")
			if err != nil || got.ID != "managed" {
				t.Fatalf("GetByName = %v, %v; want managed", got, err)
			}
		})

		t.Run("update onto a taken name", func(t *testing.T) {
			s, _ := openFresh(t, b)
			a, c := bareVM("a", "alpha"), bareVM("c", "gamma")
			mustCreate(t, s, a)
			mustCreate(t, s, c)
			moved := *c
			moved.Name = "alpha"
			if err := s.VMs().Update(ctx, &moved); !errors.Is(err, ErrConflict) {
				t.Fatalf("Update onto a taken name = %v, want ErrConflict", err)
			}
			if moved.Version != 1 || moved.Name != "alpha" {
				t.Errorf("failed Update changed its argument: %+v", moved)
			}
			assertVMEqual(t, mustGet(t, s, "c"), c)
			// Adopting a discovered VM whose name a managed VM has.
			d := discoveredVM("d", "alpha", "n1")
			mustCreate(t, s, d)
			d.Origin, d.IsManaged = vm.OriginImported, true
			if err := s.VMs().Update(ctx, d); !errors.Is(err, ErrConflict) {
				t.Fatalf("adopting onto a taken name = %v, want ErrConflict", err)
			}
		})
	})
}

func TestVMUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		v := fullVM("u1", "upd")
		mustCreate(t, s, v)
		created := *v

		v.Labels = map[string]string{"env": "dev", "new": "yes"} // tier removed, env changed
		v.Spec.VCPUs = 8
		v.Spec.Disks = v.Spec.Disks[:1]
		v.Spec.Boot = nil
		v.State, v.LastKnownState = vm.StateStopped, vm.StateRunning
		v.StateChangedAt = time.Now()
		v.LastSeen = nil
		v.Origin, v.IsManaged = vm.OriginImported, true
		v.Description = ""
		before := time.Now().Add(-time.Second)
		if err := s.VMs().Update(ctx, v); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if v.Version != 2 {
			t.Errorf("Version after Update = %d, want 2", v.Version)
		}
		if !v.UpdatedAt.After(before) {
			t.Errorf("UpdatedAt = %v, want about now", v.UpdatedAt)
		}
		if !v.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("CreatedAt changed: %v -> %v", created.CreatedAt, v.CreatedAt)
		}
		if v.Spec.Boot == nil {
			t.Errorf("Update left a nil boot order in its argument")
		}
		got := mustGet(t, s, "u1")
		assertVMEqual(t, got, v)

		t.Run("created_at is not written", func(t *testing.T) {
			w := mustGet(t, s, "u1")
			w.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := s.VMs().Update(ctx, w); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, "u1"); !got.CreatedAt.Equal(created.CreatedAt) {
				t.Errorf("CreatedAt = %v after Update, want %v", got.CreatedAt, created.CreatedAt)
			}
		})

		t.Run("stale version", func(t *testing.T) {
			a := mustGet(t, s, "u1")
			stale := mustGet(t, s, "u1")
			a.Message = "winner"
			if err := s.VMs().Update(ctx, a); err != nil {
				t.Fatalf("Update a: %v", err)
			}
			stale.Message = "loser"
			stale.Labels = map[string]string{"loser": "1"}
			stale.Spec.VCPUs = 99
			snapshot := *stale
			err := s.VMs().Update(ctx, stale)
			if !errors.Is(err, ErrStale) {
				t.Fatalf("Update with stale version = %v, want ErrStale", err)
			}
			if !reflect.DeepEqual(*stale, snapshot) {
				t.Errorf("stale Update changed its argument")
			}
			assertVMEqual(t, mustGet(t, s, "u1"), a)
		})

		t.Run("gone", func(t *testing.T) {
			ghost := bareVM("ghost", "ghost")
			ghost.Version = 1
			if err := s.VMs().Update(ctx, ghost); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestVMConcurrentUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		mustCreate(t, s, bareVM("counter", "counter"))
		const workers, perWorker = 8, 15
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			retries  int
			firstErr error
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					for {
						v, err := s.VMs().Get(ctx, "counter")
						if err != nil {
							mu.Lock()
							firstErr = cmpErr(firstErr, err)
							mu.Unlock()
							return
						}
						v.Spec.VCPUs++
						v.Labels = map[string]string{"last-writer": fmt.Sprint(w)}
						err = s.VMs().Update(ctx, v)
						if errors.Is(err, ErrStale) {
							mu.Lock()
							retries++
							mu.Unlock()
							continue
						}
						if err != nil {
							mu.Lock()
							firstErr = cmpErr(firstErr, err)
							mu.Unlock()
							return
						}
						break
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			t.Fatalf("a worker failed: %v", firstErr)
		}
		got := mustGet(t, s, "counter")
		if want := uint32(workers * perWorker); got.Spec.VCPUs != want {
			t.Errorf("counter = %d, want %d (lost updates)", got.Spec.VCPUs, want)
		}
		if want := int64(1 + workers*perWorker); got.Version != want {
			t.Errorf("version = %d, want %d", got.Version, want)
		}
		if len(got.Labels) != 1 {
			t.Errorf("labels = %v, want one last-writer label", got.Labels)
		}
		t.Logf("%d updates, %d stale retries", workers*perWorker, retries)
	})
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func TestVMDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		v := fullVM("d1", "del")
		mustCreate(t, s, v)
		mustCreate(t, s, fullVM("d2", "keep"))
		for i := range 3 {
			if err := s.Events().Append(ctx, &vm.Event{VMID: "d1", Action: fmt.Sprint("a", i)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Events().Append(ctx, &vm.Event{VMID: "d2", Action: fmt.Sprint("a", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.VMs().Delete(ctx, "d1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.VMs().Get(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		for table, want := range map[string]int64{"vm_labels": 2, "vm_events": 3} {
			var n, own int64
			s.w.Table(table).Count(&n)
			s.w.Table(table).Where("vm_id = ?", "d1").Count(&own)
			if own != 0 || n != want {
				t.Errorf("%s: %d rows of the deleted VM, %d in all; want 0 and %d", table, own, n, want)
			}
		}
		if err := s.VMs().Delete(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete = %v, want ErrNotFound", err)
		}
		// The freed name can be used again.
		mustCreate(t, s, bareVM("d3", "del"))
	})
}

func TestVMListByNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ids := []string{"c", "a", "e", "b", "d"}
		for i, id := range ids {
			v := discoveredVM(id, "vm-"+id, "n1")
			if i%2 == 1 {
				v.NodeID = "n2"
			}
			v.Labels = map[string]string{"id": id}
			mustCreate(t, s, v)
		}
		got, err := s.VMs().ListByNode(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, v := range got {
			gotIDs = append(gotIDs, v.ID)
			if v.Labels["id"] != v.ID {
				t.Errorf("VM %s has labels %v", v.ID, v.Labels)
			}
		}
		if want := []string{"c", "d", "e"}; !slices.Equal(gotIDs, want) {
			t.Errorf("ListByNode(n1) = %v, want %v", gotIDs, want)
		}
		got, err = s.VMs().ListByNode(ctx, "none")
		if err != nil || len(got) != 0 {
			t.Errorf("ListByNode(none) = %v, %v; want empty", got, err)
		}
	})
}
