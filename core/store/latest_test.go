package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// TestEventsLatest: Latest gives the newest matching events, newest
// first, pages back with Before, and refuses bad limits.
func TestEventsLatest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		mustCreate(t, s, discoveredVM("l1", "l1", "node-a"))
		mustCreate(t, s, discoveredVM("l2", "l2", "node-b"))
		mustCreate(t, s, discoveredVM("l3", "l3", "node-a"))
		var all []*vm.Event
		for i := range 30 {
			e := &vm.Event{VMID: []string{"l1", "l2", "l3"}[i%3], Action: []string{"start", "stop"}[i%2],
				Cause: []vm.Cause{vm.CauseAPI, vm.CauseHost, vm.CauseReconciler, vm.CauseHost, vm.CauseAPI}[i%5]}
			all = append(all, e)
		}
		if err := s.Events().AppendMany(ctx, all); err != nil {
			t.Fatal(err)
		}
		// want filters all newest first, the way Latest should.
		want := func(keep func(e *vm.Event) bool, n int) []*vm.Event {
			var out []*vm.Event
			for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
				if keep(all[i]) {
					out = append(out, all[i])
				}
			}
			return out
		}
		onA := func(e *vm.Event) bool { return e.VMID == "l1" || e.VMID == "l3" }
		cases := []struct {
			name string
			q    EventQuery
			want []*vm.Event
		}{
			{"newest 5", EventQuery{Limit: 5}, want(func(*vm.Event) bool { return true }, 5)},
			{"default limit", EventQuery{}, want(func(*vm.Event) bool { return true }, 100)},
			{"one vm", EventQuery{VMID: "l2", Limit: 4}, want(func(e *vm.Event) bool { return e.VMID == "l2" }, 4)},
			{"one node", EventQuery{NodeID: "node-a", Limit: 7}, want(onA, 7)},
			{"action", EventQuery{Action: "stop", Limit: 6}, want(func(e *vm.Event) bool { return e.Action == "stop" }, 6)},
			{"cause", EventQuery{Cause: vm.CauseHost, Limit: 100}, want(func(e *vm.Event) bool { return e.Cause == vm.CauseHost }, 100)},
			{"all filters", EventQuery{VMID: "l1", NodeID: "node-a", Action: "start", Cause: vm.CauseAPI, Limit: 10},
				want(func(e *vm.Event) bool { return e.VMID == "l1" && e.Action == "start" && e.Cause == vm.CauseAPI }, 10)},
			{"before", EventQuery{Before: all[10].ID, Limit: 3}, []*vm.Event{all[9], all[8], all[7]}},
			{"before the first", EventQuery{Before: all[0].ID}, nil},
			{"vm of another node", EventQuery{VMID: "l2", NodeID: "node-a"}, nil},
			{"unknown vm", EventQuery{VMID: "ghost"}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Events().Latest(ctx, tc.q)
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
		for _, q := range []EventQuery{{Limit: -1}, {Limit: maxPageSize + 1}, {Before: -5}} {
			if _, err := s.Events().Latest(ctx, q); !errors.Is(err, ErrInvalid) {
				t.Errorf("Latest(%+v) = %v, want ErrInvalid", q, err)
			}
		}
	})
}

// TestEventsLatestPlan: on a table of many events, the database reads
// Latest's rows from an index in id order and sorts nothing, for the
// filters the console uses. A plan that scans the table and sorts it
// would cost in the table's size on every page load.
func TestEventsLatestPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 50,000 events")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		const nVMs, nEvents = 50, 50_000
		vms := make([]*vm.VM, nVMs)
		for i := range vms {
			vms[i] = discoveredVM(fmt.Sprintf("p-%04d", i), fmt.Sprintf("p-%04d", i), fmt.Sprintf("node-%d", i%10))
		}
		if err := s.VMs().CreateMany(ctx, vms); err != nil {
			t.Fatal(err)
		}
		// Most events are of four common actions and two causes; one in
		// 500 is a reset_state, one in 700 is the reconciler's: the
		// primary key read backwards passes ~50,000 rows to find a page of
		// those, their own index 100.
		evs := make([]*vm.Event, nEvents)
		for i := range evs {
			action := []string{"start", "stop", "observe", "reboot"}[i%4]
			if i%500 == 1 {
				action = "reset_state"
			}
			cause := []vm.Cause{vm.CauseAPI, vm.CauseHost}[i%2]
			if i%700 == 3 {
				cause = vm.CauseReconciler
			}
			evs[i] = &vm.Event{VMID: vms[i%nVMs].ID, Action: action, Cause: cause}
		}
		if err := s.Events().AppendMany(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.w.Exec("ANALYZE").Error; err != nil {
			t.Fatal(err)
		}
		pk := []string{"vm_events_pkey"}
		if b.name == dialectSQLite {
			// SQLite reads an INTEGER PRIMARY KEY table in rowid order.
			pk = []string{"SCAN vm_events", "USING INTEGER PRIMARY KEY"}
		}
		byVM := []string{"vm_events_vm_id_id_idx"}
		byAction := []string{"vm_events_action_id_idx"}
		byCause := []string{"vm_events_cause_id_idx"}
		anyOf := func(lists ...[]string) []string { return slices.Concat(lists...) }
		for _, tc := range []struct {
			name    string
			q       EventQuery
			indexes []string // the plan must name one of them
			// sorts: the plan may sort what an index gave, when the
			// filter bounds it: the planner may read the (vm_id, id) index
			// for a VM (or each VM of a node) and sort those VMs' events
			// that pass the other filters.
			sorts bool
		}{
			{"no filter", EventQuery{}, pk, false},
			{"vm", EventQuery{VMID: "p-0042"}, byVM, false},
			// Either index bounds what is read: SQLite may take the
			// action's, which gives the order too.
			{"vm and action", EventQuery{VMID: "p-0042", Action: "stop"}, anyOf(byVM, byAction), true},
			{"common action and cause", EventQuery{Action: "stop", Cause: vm.CauseHost}, anyOf(pk, byAction, byCause), false},
			// A rare action or cause: its own index, read backwards
			// (SQLite) or its few rows sorted (PostgreSQL's bitmap scan).
			{"rare action", EventQuery{Action: "reset_state"}, byAction, true},
			{"rare action, page back", EventQuery{Action: "reset_state", Before: evs[nEvents/2].ID}, byAction, true},
			{"rare cause", EventQuery{Cause: vm.CauseReconciler}, byCause, true},
			{"rare action and a cause", EventQuery{Action: "reset_state", Cause: vm.CauseAPI}, anyOf(byAction, byCause), true},
			{"node", EventQuery{NodeID: "node-3"}, append(slices.Clone(pk), byVM...), true},
			{"page back", EventQuery{Before: evs[nEvents/2].ID}, pk, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				plan := explain(t, s, b.name, tc.q)
				if !slices.ContainsFunc(tc.indexes, func(ix string) bool { return strings.Contains(plan, ix) }) {
					t.Errorf("plan reads none of %v:\n%s", tc.indexes, plan)
				}
				if strings.Contains(plan, "Seq Scan on vm_events") {
					t.Errorf("plan scans the table:\n%s", plan)
				}
				if !tc.sorts && (strings.Contains(plan, "Sort") || strings.Contains(plan, "TEMP B-TREE")) {
					t.Errorf("plan sorts:\n%s", plan)
				}
			})
		}
	})
}

// explain returns the database's plan of Latest(q) with the default limit,
// a line per step.
func explain(t *testing.T, s *sqlStore, dialect string, q EventQuery) string {
	t.Helper()
	stmt := s.r.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var rows []eventRow
		return latestQuery(tx, q, defaultPageSize).Find(&rows)
	})
	prefix, col := "EXPLAIN ", 0
	if dialect == dialectSQLite {
		prefix, col = "EXPLAIN QUERY PLAN ", 3
	}
	rows, err := s.r.Raw(prefix + stmt).Rows()
	if err != nil {
		t.Fatalf("%s%s: %v", prefix, stmt, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[min(col, len(vals)-1)]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return stmt + "\n" + strings.Join(lines, "\n")
}
