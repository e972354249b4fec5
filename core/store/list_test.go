package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
)

// listOracle is what List must return for opts over vms (in creation
// order), computed without the database.
func listOracle(vms []*vm.VM, opts ListOptions) []string {
	var out []string
	for _, v := range vms {
		if opts.State != "" && v.State != opts.State ||
			opts.NodeID != "" && v.NodeID != opts.NodeID ||
			opts.Origin != "" && v.Origin != opts.Origin {
			continue
		}
		match := true
		for k, want := range opts.Labels {
			if got, ok := v.Labels[k]; !ok || got != want {
				match = false
			}
		}
		if match {
			out = append(out, v.ID)
		}
	}
	return out
}

// listAll pages through List with opts and returns the ids in order and the
// number of pages, failing on any VM seen twice.
func listAll(t *testing.T, s *sqlStore, opts ListOptions) ([]string, int, map[string]*vm.VM) {
	t.Helper()
	var ids []string
	seen := map[string]*vm.VM{}
	pages := 0
	for {
		page, next, err := s.VMs().List(ctx, opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		pages++
		limit := opts.Limit
		if limit == 0 {
			limit = defaultPageSize
		}
		if len(page) > limit {
			t.Fatalf("page of %d with limit %d", len(page), limit)
		}
		for _, v := range page {
			if _, dup := seen[v.ID]; dup {
				t.Fatalf("VM %s returned twice", v.ID)
			}
			seen[v.ID] = v
			ids = append(ids, v.ID)
		}
		if next == "" {
			return ids, pages, seen
		}
		if len(page) != limit {
			t.Fatalf("short page (%d of %d) with a next cursor", len(page), limit)
		}
		opts.Cursor = next
		if pages > 1000 {
			t.Fatal("List does not end")
		}
	}
}

func TestVMListFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		states := []vm.State{vm.StateRunning, vm.StateStopped, vm.StatePaused}
		nodes := []string{"n1", "n2"}
		origins := []vm.Origin{vm.OriginControlPlane, vm.OriginHostDiscovered, vm.OriginImported}
		envs := []string{"prod", "dev", "test", "prod"}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var all []*vm.VM
		for i := range 48 {
			v := bareVM(fmt.Sprintf("vm-%03d", i), fmt.Sprintf("name-%03d", i))
			v.State = states[i%len(states)]
			v.NodeID = nodes[i/3%len(nodes)]
			v.Origin = origins[i/6%len(origins)]
			v.IsManaged = v.Origin.Managed()
			v.Labels = map[string]string{"env": envs[i%len(envs)]}
			if i%5 == 0 {
				v.Labels["tier"] = "web"
			}
			if i%7 == 0 {
				v.Labels["tier"] = "db"
			}
			if i%2 == 0 {
				v.Labels["team"] = "core"
			}
			// Reverse id order inside a second: the id tie-break matters.
			v.CreatedAt = base.Add(time.Duration(i/4) * time.Second)
			mustCreate(t, s, v)
			all = append(all, v)
		}
		// The creation order is (created_at, id).
		slices.SortFunc(all, func(a, b *vm.VM) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return cmpString(a.ID, b.ID)
		})

		cases := []struct {
			name string
			opts ListOptions
		}{
			{"no filter", ListOptions{}},
			{"state", ListOptions{State: vm.StateRunning}},
			{"node", ListOptions{NodeID: "n2"}},
			{"origin", ListOptions{Origin: vm.OriginHostDiscovered}},
			{"one label", ListOptions{Labels: map[string]string{"env": "prod"}}},
			{"two labels", ListOptions{Labels: map[string]string{"env": "prod", "team": "core"}}},
			{"three labels", ListOptions{Labels: map[string]string{"env": "prod", "team": "core", "tier": "web"}}},
			{"label value mismatch", ListOptions{Labels: map[string]string{"tier": "cache"}}},
			{"label key absent", ListOptions{Labels: map[string]string{"owner": "me"}}},
			{"label and state", ListOptions{State: vm.StateStopped, Labels: map[string]string{"tier": "db"}}},
			{"everything", ListOptions{State: vm.StateRunning, NodeID: "n1", Origin: vm.OriginControlPlane, Labels: map[string]string{"team": "core"}}},
			{"no match", ListOptions{State: vm.StateCrashed}},
			{"paged by 7", ListOptions{Labels: map[string]string{"team": "core"}, Limit: 7}},
			{"paged by 1", ListOptions{NodeID: "n1", Limit: 1}},
			{"label filters at the maximum", ListOptions{Labels: func() map[string]string {
				m := map[string]string{"env": "prod"}
				for i := range maxLabelFilters - 1 {
					m[fmt.Sprint("absent-", i)] = "v"
				}
				return m
			}()}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := listOracle(all, tc.opts)
				got, _, seen := listAll(t, s, tc.opts)
				if !slices.Equal(got, want) {
					t.Fatalf("List(%+v):\n got %v\nwant %v", tc.opts, got, want)
				}
				for _, v := range all {
					if g, ok := seen[v.ID]; ok {
						assertVMEqual(t, g, v)
					}
				}
			})
		}
		if n := len(listOracle(all, ListOptions{Labels: map[string]string{"env": "prod", "team": "core", "tier": "web"}})); n == 0 {
			t.Fatal("the fixture has no VM with three matching labels; the label cases test too little")
		}
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestVMListPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		const n = 250
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		var want []string
		err := s.Tx(ctx, func(tx Store) error {
			for i := range n {
				// Ten VMs share each created_at, microseconds apart per group;
				// ids are created out of order inside a group.
				id := fmt.Sprintf("vm-%03d-%d", i/10, 9-i%10)
				v := bareVM(id, id)
				v.CreatedAt = base.Add(time.Duration(i/10) * time.Microsecond)
				if err := tx.VMs().Create(ctx, v); err != nil {
					return err
				}
				want = append(want, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want) // the ids sort in (created_at, id) order by construction

		got, pages, _ := listAll(t, s, ListOptions{Limit: 100})
		if pages != 3 {
			t.Errorf("%d pages, want 3", pages)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paging visited\n%v\nwant\n%v", got, want)
		}

		page, next, err := s.VMs().List(ctx, ListOptions{})
		if err != nil || len(page) != defaultPageSize || next == "" {
			t.Errorf("List(limit 0) = %d VMs, next %q, %v; want %d and a cursor", len(page), next, err, defaultPageSize)
		}
		page, next, err = s.VMs().List(ctx, ListOptions{Limit: maxPageSize})
		if err != nil || len(page) != n || next != "" {
			t.Errorf("List(limit 1000) = %d VMs, next %q, %v; want %d and no cursor", len(page), next, err, n)
		}
		page, next, err = s.VMs().List(ctx, ListOptions{Limit: n})
		if err != nil || len(page) != n || next != "" {
			t.Errorf("List(limit %d) = %d VMs, next %q, %v; want all and no cursor", n, len(page), next, err)
		}
	})
}

func TestVMListInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		mustCreate(t, s, bareVM("a", "a"))
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		cases := []struct {
			name string
			opts ListOptions
		}{
			{"limit 1001", ListOptions{Limit: maxPageSize + 1}},
			{"negative limit", ListOptions{Limit: -1}},
			{"cursor not base64", ListOptions{Cursor: "!!not base64!!"}},
			{"cursor without id", ListOptions{Cursor: b64("2026-01-01T00:00:00.000000Z|")}},
			{"cursor without separator", ListOptions{Cursor: b64("2026-01-01T00:00:00.000000Z")}},
			{"cursor with a bad time", ListOptions{Cursor: b64("yesterday|a")}},
			{"cursor with a time in another layout", ListOptions{Cursor: b64("2026-01-01 00:00:00|a")}},
			{"too many label filters", ListOptions{Labels: func() map[string]string {
				m := map[string]string{}
				for i := range maxLabelFilters + 1 {
					m[fmt.Sprint("k", i)] = "v"
				}
				return m
			}()}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				page, next, err := s.VMs().List(ctx, tc.opts)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("List(%+v) = %d VMs, %q, %v; want ErrInvalid", tc.opts, len(page), next, err)
				}
			})
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "with|bar", "ü-ünicode", "9f0c7f7e-4bb4-4d52-8a3e-2d7a1b0c9e11"} {
		at := time.Date(2026, 7, 8, 9, 10, 11, 121314000, time.UTC)
		c := encodeCursor(at, id)
		gotAt, gotID, err := decodeCursor(c)
		if err != nil || !gotAt.Equal(at) || gotID != id {
			t.Errorf("decodeCursor(encodeCursor(%v, %q)) = %v, %q, %v", at, id, gotAt, gotID, err)
		}
	}
}

// TestVMListLabels checks that a page's labels come with it, in the page's
// one query (not a query per VM, nor a second one for the labels): every VM
// of a page carries its own labels.
func TestVMListLabels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		want := map[string]map[string]string{}
		for i := range 30 {
			v := bareVM(fmt.Sprintf("l%02d", i), fmt.Sprintf("l%02d", i))
			v.Labels = map[string]string{}
			for j := range i % 4 {
				v.Labels[fmt.Sprintf("k%d", j)] = fmt.Sprintf("v%d-%d", i, j)
			}
			mustCreate(t, s, v)
			want[v.ID] = maps.Clone(v.Labels)
		}
		var queries countingLogger
		s.w.Logger, s.r.Logger = &queries, &queries
		page, _, err := s.VMs().List(ctx, ListOptions{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		if queries.n != 1 {
			t.Errorf("List of 30 VMs ran %d queries, want 1 (the page with its labels)", queries.n)
		}
		for _, v := range page {
			if !maps.Equal(v.Labels, want[v.ID]) || v.Labels == nil {
				t.Errorf("VM %s labels = %v, want %v", v.ID, v.Labels, want[v.ID])
			}
		}
	})
}
