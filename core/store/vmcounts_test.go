package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
)

func TestCountByNodeState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		if counts, err := s.VMs().CountByNodeState(ctx); err != nil || len(counts) != 0 {
			t.Fatalf("CountByNodeState of no VM = %v, %v", counts, err)
		}
		for _, sd := range []struct {
			id, node string
			state    vm.State
		}{
			{"c-1", "n1", vm.StateRunning}, {"c-2", "n1", vm.StateRunning}, {"c-3", "n1", vm.StateStopped},
			{"c-4", "n2", vm.StateRunning}, {"c-5", "n2", vm.StateTerminated}, {"c-6", "", vm.StateCreating},
		} {
			v := discoveredVM(sd.id, sd.id, sd.node)
			v.State = sd.state
			mustCreate(t, s, v)
		}
		counts, err := s.VMs().CountByNodeState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []VMCount{
			{"", vm.StateCreating, 1},
			{"n1", vm.StateRunning, 2}, {"n1", vm.StateStopped, 1},
			{"n2", vm.StateRunning, 1}, {"n2", vm.StateTerminated, 1},
		}
		if !reflect.DeepEqual(counts, want) {
			t.Errorf("CountByNodeState = %v, want %v", counts, want)
		}
	})
}

// countQuery is the statement CountByNodeState runs.
const countQuery = `SELECT node_id, state, COUNT(*) AS n FROM vms GROUP BY node_id, state ORDER BY node_id, state`

// TestCountByNodeStatePlan: on SQLite the grouped count reads the covering
// index vms_node_id_state_idx in its order, neither the table nor a sort.
func TestCountByNodeStatePlan(t *testing.T) {
	s, _ := openFresh(t, backends[0])
	plan := queryPlan(t, s, dialectSQLite)
	if !strings.Contains(plan, "COVERING INDEX vms_node_id_state_idx") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("the grouped count's plan is\n%s\nwant a scan of the covering index vms_node_id_state_idx and no temporary b-tree", plan)
	}
}

// queryPlan is the plan of countQuery, one line per step.
func queryPlan(tb testing.TB, s *sqlStore, dialect string) string {
	tb.Helper()
	q := "EXPLAIN QUERY PLAN " + countQuery
	if dialect == dialectPostgres {
		q = "EXPLAIN " + countQuery
	}
	rows, err := s.w.Raw(q).Rows()
	if err != nil {
		tb.Fatal(err)
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
			tb.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// BenchmarkCountByNodeState: the grouped count the inventory metrics read,
// over 50,000 VMs on 20 nodes (20 node and state pairs, as seedVMs places
// them): with the index vms_node_id_state_idx (schema version 13), then on
// the same data with the schema before it (vms_node_id_idx only). The
// plans of both are logged (-v).
func BenchmarkCountByNodeState(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := openFresh(b, be)
			seedVMs(b, s, 50000)
			ctx := context.Background()
			analyze := "ANALYZE"
			if be.name == dialectPostgres {
				analyze = "VACUUM ANALYZE vms"
			}
			run := func(b *testing.B) {
				if err := s.w.Exec(analyze).Error; err != nil {
					b.Fatal(err)
				}
				b.Logf("plan:\n%s", queryPlan(b, s, be.name))
				for b.Loop() {
					counts, err := s.VMs().CountByNodeState(ctx)
					if err != nil || len(counts) != 20 {
						b.Fatalf("CountByNodeState: %d rows, %v; want 20", len(counts), err)
					}
				}
			}
			b.Run("index", run)
			for _, q := range []string{`CREATE INDEX vms_node_id_idx ON vms (node_id)`, `DROP INDEX vms_node_id_state_idx`} {
				if err := s.w.Exec(q).Error; err != nil {
					b.Fatal(err)
				}
			}
			b.Run("no-index", run)
		})
	}
}
