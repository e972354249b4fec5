package store

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
)

func TestTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		errBoom := errors.New("boom")

		t.Run("rollback on error leaves nothing", func(t *testing.T) {
			s, _ := openFresh(t, b)
			mustCreate(t, s, bareVM("pre", "pre"))
			err := s.Tx(ctx, func(tx Store) error {
				if err := tx.VMs().Create(ctx, fullVM("tx1", "tx1")); err != nil {
					return err
				}
				if err := tx.Events().Append(ctx, &vm.Event{VMID: "tx1", Action: "create"}); err != nil {
					return err
				}
				if err := tx.Nodes().Upsert(ctx, &node.Node{ID: "n1", Name: "n1", State: node.StateReady}); err != nil {
					return err
				}
				pre, err := tx.VMs().Get(ctx, "pre")
				if err != nil {
					return err
				}
				pre.Message = "touched"
				if err := tx.VMs().Update(ctx, pre); err != nil {
					return err
				}
				if err := tx.VMs().Delete(ctx, "pre"); err != nil {
					return err
				}
				// The transaction sees its own writes.
				if _, err := tx.VMs().Get(ctx, "tx1"); err != nil {
					return err
				}
				if evs, err := tx.Events().List(ctx, "tx1", 0, 0); err != nil || len(evs) != 1 {
					return fmt.Errorf("events in tx: %v, %v", evs, err)
				}
				return fmt.Errorf("giving up: %w", errBoom)
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("Tx = %v, want fn's error", err)
			}
			if _, err := s.VMs().Get(ctx, "tx1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("VM created in a rolled back Tx: %v", err)
			}
			if _, err := s.Nodes().Get(ctx, "n1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("node upserted in a rolled back Tx: %v", err)
			}
			pre := mustGet(t, s, "pre")
			if pre.Message != "" || pre.Version != 1 {
				t.Errorf("VM updated and deleted in a rolled back Tx is %+v", pre)
			}
			var events int64
			s.w.Table("vm_events").Count(&events)
			if events != 0 {
				t.Errorf("%d events after rollback", events)
			}
		})

		t.Run("commit", func(t *testing.T) {
			s, _ := openFresh(t, b)
			err := s.Tx(ctx, func(tx Store) error {
				if err := tx.VMs().Create(ctx, bareVM("c1", "c1")); err != nil {
					return err
				}
				return tx.Events().Append(ctx, &vm.Event{VMID: "c1", Action: "create"})
			})
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, "c1")
			if evs, err := s.Events().List(ctx, "c1", 0, 0); err != nil || len(evs) != 1 {
				t.Errorf("events after commit: %v, %v", evs, err)
			}
		})

		t.Run("nested Tx joins the outer one", func(t *testing.T) {
			s, _ := openFresh(t, b)
			err := s.Tx(ctx, func(tx Store) error {
				if err := tx.VMs().Create(ctx, bareVM("outer", "outer")); err != nil {
					return err
				}
				err := tx.Tx(ctx, func(inner Store) error {
					if _, err := inner.VMs().Get(ctx, "outer"); err != nil {
						return fmt.Errorf("inner Tx does not see the outer one's write: %w", err)
					}
					return inner.VMs().Create(ctx, bareVM("inner", "inner"))
				})
				if err != nil {
					return err
				}
				if err := tx.Close(); err == nil {
					return errors.New("Close of a transaction's store succeeded")
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Fatalf("Tx = %v", err)
			}
			for _, id := range []string{"outer", "inner"} {
				if _, err := s.VMs().Get(ctx, id); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s survived the rollback: %v", id, err)
				}
			}
		})

		t.Run("failed write inside Tx leaves it usable", func(t *testing.T) {
			s, _ := openFresh(t, b)
			mustCreate(t, s, bareVM("taken", "taken"))
			err := s.Tx(ctx, func(tx Store) error {
				if err := tx.VMs().Create(ctx, bareVM("dup", "taken")); !errors.Is(err, ErrConflict) {
					return fmt.Errorf("duplicate name in Tx = %v, want ErrConflict", err)
				}
				if err := tx.Events().Append(ctx, &vm.Event{VMID: "nobody"}); !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("event of a missing VM = %v, want ErrNotFound", err)
				}
				return tx.VMs().Create(ctx, bareVM("after", "after"))
			})
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, "after")
			if _, err := s.VMs().Get(ctx, "dup"); !errors.Is(err, ErrNotFound) {
				t.Errorf("the failed Create left a row: %v", err)
			}
		})

		t.Run("panic rolls back", func(t *testing.T) {
			s, _ := openFresh(t, b)
			func() {
				defer func() { _ = recover() }()
				_ = s.Tx(ctx, func(tx Store) error {
					if err := tx.VMs().Create(ctx, bareVM("p", "p")); err != nil {
						return err
					}
					panic("in Tx")
				})
			}()
			if _, err := s.VMs().Get(ctx, "p"); !errors.Is(err, ErrNotFound) {
				t.Errorf("VM of a panicked Tx: %v", err)
			}
			// The store still works (the connection was given back).
			mustCreate(t, s, bareVM("q", "q"))
		})
	})
}

func TestEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		mustCreate(t, s, bareVM("e1", "e1"))
		mustCreate(t, s, bareVM("e2", "e2"))
		at := time.Date(2026, 4, 5, 6, 7, 8, 987654321, time.FixedZone("X", 7200))
		var mine []*vm.Event
		var lastID int64
		for i := range 7 {
			e := &vm.Event{VMID: "e1", Time: at.Add(time.Duration(i) * time.Second), Action: fmt.Sprint("action-", i),
				OldState: vm.StateStopped, NewState: vm.StateStarting, Cause: vm.CauseAPI, Message: fmt.Sprint("msg ", i)}
			if i == 3 {
				e.Time = time.Time{} // now
			}
			if err := s.Events().Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID <= lastID {
				t.Fatalf("event IDs not increasing: %d after %d", e.ID, lastID)
			}
			lastID = e.ID
			if e.Time.IsZero() || e.Time.Location() != time.UTC || e.Time.Nanosecond()%1000 != 0 {
				t.Errorf("Append left time %v, want UTC µs", e.Time)
			}
			mine = append(mine, e)
			other := &vm.Event{VMID: "e2", Action: "other", Cause: vm.CauseHost}
			if err := s.Events().Append(ctx, other); err != nil {
				t.Fatal(err)
			}
			lastID = other.ID
		}
		cases := []struct {
			name    string
			afterID int64
			limit   int
			want    []*vm.Event
		}{
			{"all", 0, 0, mine},
			{"after the third", mine[2].ID, 0, mine[3:]},
			{"limit 2", 0, 2, mine[:2]},
			{"after and limit", mine[1].ID, 3, mine[2:5]},
			{"after the last", mine[6].ID, 0, nil},
			{"after an id of another vm", mine[4].ID + 1, 0, mine[5:]},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Events().List(ctx, "e1", tc.afterID, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d events, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if !reflect.DeepEqual(got[i], tc.want[i]) {
						t.Errorf("event %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			})
		}
		if _, err := s.Events().List(ctx, "e1", 0, maxPageSize+1); !errors.Is(err, ErrInvalid) {
			t.Errorf("List(limit 1001) = %v, want ErrInvalid", err)
		}
		if err := s.Events().Append(ctx, &vm.Event{VMID: "ghost"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Append for a missing VM = %v, want ErrNotFound", err)
		}
		if got, err := s.Events().List(ctx, "ghost", 0, 0); err != nil || len(got) != 0 {
			t.Errorf("List(missing VM) = %v, %v; want empty", got, err)
		}
	})
}

func TestNodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		hb := time.Date(2026, 2, 3, 4, 5, 6, 7008009, time.Local)
		n := &node.Node{
			ID: "node-b", Name: "beta", State: node.StateReady, Address: "10.0.0.2:7070", ClaimedAddress: "192.168.1.2",
			Host: node.HostInfo{Hostname: "beta.example", CPUs: 32, MemoryMiB: 1 << 20, Arch: "x86_64",
				Hypervisor: "QEMU", HypervisorVersion: "8.2.0", KVMUsable: true},
			Backend:       node.Backend{Name: "libvirt", Version: "1.2.3", Healthy: true},
			LastHeartbeat: &hb,
		}
		if err := s.Nodes().Upsert(ctx, n); err != nil {
			t.Fatal(err)
		}
		if n.CreatedAt.IsZero() || n.UpdatedAt.IsZero() || n.LastHeartbeat.Location() != time.UTC {
			t.Errorf("Upsert did not stamp/normalise times: %+v", n)
		}
		got, err := s.Nodes().Get(ctx, "node-b")
		if err != nil || !reflect.DeepEqual(got, n) {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, n)
		}
		firstCreated := n.CreatedAt

		// Replace: every field but created_at, once the stored clock has
		// moved on so that updated_at can be told from it.
		wait.Until(t, time.Second, "the clock to pass the first created_at", func() bool { return normTime(time.Now()).After(firstCreated) })
		repl := &node.Node{ID: "node-b", Name: "beta2", State: node.StateUnreachable, Address: "10.0.0.3:7070", ClaimedAddress: "192.168.1.3",
			Backend: node.Backend{Name: "libvirt", Healthy: false, Error: "connection refused"},
			// A later CreatedAt in the argument does not move the stored one.
			CreatedAt: time.Now().Add(time.Hour)}
		if err := s.Nodes().Upsert(ctx, repl); err != nil {
			t.Fatal(err)
		}
		if !repl.CreatedAt.Equal(firstCreated) || !repl.UpdatedAt.After(firstCreated) {
			t.Errorf("after replace CreatedAt = %v (want %v), UpdatedAt = %v", repl.CreatedAt, firstCreated, repl.UpdatedAt)
		}
		got, err = s.Nodes().GetByName(ctx, "beta2")
		if err != nil || !reflect.DeepEqual(got, repl) {
			t.Fatalf("GetByName = %+v, %v; want %+v", got, err, repl)
		}
		if _, err := s.Nodes().GetByName(ctx, "beta"); !errors.Is(err, ErrNotFound) {
			t.Errorf("old name still found: %v", err)
		}

		for _, nn := range []*node.Node{{ID: "node-c", Name: "gamma"}, {ID: "node-a", Name: "alpha"}, {ID: "node-z", Name: "Zulu"}} {
			nn.State = node.StateReady
			if err := s.Nodes().Upsert(ctx, nn); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.Nodes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, nn := range list {
			names = append(names, nn.Name)
		}
		if want := []string{"Zulu", "alpha", "beta2", "gamma"}; !reflect.DeepEqual(names, want) {
			t.Errorf("List names = %v, want %v", names, want)
		}

		dup := &node.Node{ID: "node-d", Name: "alpha", State: node.StateReady}
		if err := s.Nodes().Upsert(ctx, dup); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "node-d") ||
			!strings.Contains(err.Error(), "node name is taken") {
			t.Errorf("Upsert with a taken name = %v, want ErrConflict naming node-d and the reason", err)
		}
		if _, err := s.Nodes().Get(ctx, "node-x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
		if err := s.Nodes().Upsert(ctx, &node.Node{Name: "noid"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Upsert without id = %v, want ErrInvalid", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		name, driver, dsn, want string
	}{
		{"unknown driver", "mysql", "x", `unknown database driver "mysql"`},
		{"empty sqlite path", "sqlite", "", "empty path"},
		{"sqlite uri", "sqlite", "file:x.db?mode=memory", "plain file path"},
		{"sqlite in memory", "sqlite", ":memory:", "plain file path"},
		{"empty postgres dsn", "postgres", "", "empty dsn"},
		{"postgres down", "postgres", "host=127.0.0.1 port=1 user=x password=x dbname=x sslmode=disable connect_timeout=2", "connecting"},
		{"postgres malformed", "postgres", "host=127.0.0.1 port=notaport", "opening postgres store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.driver, tc.dsn, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s, %q) succeeded", tc.driver, tc.dsn)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s, %q) = %v, want it to say %q", tc.driver, tc.dsn, err, tc.want)
			}
		})
	}
	t.Run("sqlite directory not creatable", func(t *testing.T) {
		file := t.TempDir() + "/file"
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, "sqlite", file+"/sub/q.db", nil); err == nil || !strings.Contains(err.Error(), "creating the database directory") {
			t.Errorf("Open under a file = %v", err)
		}
	})
}

// TestSQLiteSettings checks the pragmas every connection gets.
func TestSQLiteSettings(t *testing.T) {
	s, _ := openFresh(t, backends[0])
	for _, c := range []struct {
		db     string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS)},
		{"reader", "foreign_keys", "1"},
		{"reader", "busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS)},
		{"reader", "query_only", "1"},
	} {
		db := s.w
		if c.db == "reader" {
			db = s.r
		}
		var got string
		if err := db.Raw("PRAGMA " + c.pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s PRAGMA %s = %q, want %q", c.db, c.pragma, got, c.want)
		}
	}
	wdb, _ := s.w.DB()
	if got := wdb.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
}

// TestConcurrentWriters writes from many goroutines through two stores on
// the same database at once (two processes, as far as the database can
// tell): no write fails, with SQLite's "database is locked" or otherwise.
func TestConcurrentWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		s1 := openAt(t, driver, dsn)
		s2 := openAt(t, driver, dsn)
		const workers, perWorker = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*perWorker)
		for w := range workers {
			st := s1
			if w%2 == 1 {
				st = s2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					id := fmt.Sprintf("w%d-%d", w, i)
					v := bareVM(id, id)
					v.Labels = map[string]string{"worker": fmt.Sprint(w)}
					if err := st.VMs().Create(ctx, v); err != nil {
						errs <- err
						continue
					}
					// Read, then write, in one transaction: the pattern that
					// deadlocks SQLite writers whose transactions begin
					// DEFERRED.
					if err := st.Tx(ctx, func(tx Store) error {
						got, err := tx.VMs().Get(ctx, id)
						if err != nil {
							return err
						}
						if err := tx.Events().Append(ctx, &vm.Event{VMID: id, Action: "start"}); err != nil {
							return err
						}
						got.State = vm.StateRunning
						return tx.VMs().Update(ctx, got)
					}); err != nil {
						errs <- err
					}
					if _, _, err := st.VMs().List(ctx, ListOptions{Labels: map[string]string{"worker": fmt.Sprint(w)}}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write failed: %v", err)
		}
		ids, _, _ := listAll(t, s2, ListOptions{State: vm.StateRunning, Limit: maxPageSize})
		if len(ids) != workers*perWorker {
			t.Errorf("%d running VMs, want %d", len(ids), workers*perWorker)
		}
	})
}

// TestEventsRestore: events moved from one VM's record to another keep
// their ids; an event without an id is refused, an id in use conflicts,
// and new events still get ids above every restored one.
func TestEventsRestore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		mustCreate(t, s, bareVM("from", "from"))
		var moved []*vm.Event
		for i := range 3 {
			e := &vm.Event{VMID: "from", Action: fmt.Sprint("step-", i), Cause: vm.CauseAPI}
			if err := s.Events().Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			moved = append(moved, e)
		}
		if err := s.VMs().Delete(ctx, "from"); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, bareVM("to", "to"))
		for _, e := range moved {
			e.VMID = "to"
		}
		if err := s.Events().Restore(ctx, moved); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events().List(ctx, "to", 0, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("restored history: %v, %v", got, err)
		}
		for i, e := range got {
			if e.ID != moved[i].ID || e.Action != moved[i].Action {
				t.Errorf("restored event %d = %+v, want %+v", i, e, moved[i])
			}
		}
		if err := s.Events().Restore(ctx, []*vm.Event{{VMID: "to", Action: "no id"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Restore of an event without id = %v, want ErrInvalid", err)
		}
		if err := s.Events().Restore(ctx, []*vm.Event{{ID: moved[0].ID, VMID: "to", Action: "again"}}); !errors.Is(err, ErrConflict) {
			t.Errorf("Restore under an id in use = %v, want ErrConflict", err)
		}
		next := &vm.Event{VMID: "to", Action: "later", Cause: vm.CauseAPI}
		if err := s.Events().Append(ctx, next); err != nil || next.ID <= moved[2].ID {
			t.Errorf("an event appended after a restore got id %d (%v), want above %d", next.ID, err, moved[2].ID)
		}
	})
}
