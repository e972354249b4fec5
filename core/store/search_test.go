package store

import (
	"slices"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
)

// TestListSearch: Search matches a name's substring in any case or an
// id's prefix, takes % _ and \ literally, combines with the other filters
// and pages with the cursor; on both databases.
func TestListSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		for _, v := range []struct{ id, name string }{
			{"a1000000-0000-4000-8000-000000000001", "web-01"},
			{"a2000000-0000-4000-8000-000000000002", "Web_02"},
			{"b1000000-0000-4000-8000-000000000003", "db%1"},
			{"b2000000-0000-4000-8000-000000000004", "axb"},
			{"c1000000-0000-4000-8000-000000000005", `back\slash`},
			{"c2000000-0000-4000-8000-000000000006", "WEBSERVER"},
		} {
			mustCreate(t, s, bareVM(v.id, v.name))
		}
		stopped := mustGet(t, s, "c2000000-0000-4000-8000-000000000006")
		stopped.State = vm.StateRunning
		if err := s.VMs().Update(ctx, stopped); err != nil {
			t.Fatal(err)
		}
		names := func(opts ListOptions) []string {
			t.Helper()
			var out []string
			for pages := 0; pages < 10; pages++ {
				page, next, err := s.VMs().List(ctx, opts)
				if err != nil {
					t.Fatalf("List(%+v): %v", opts, err)
				}
				for _, v := range page {
					out = append(out, v.Name)
				}
				if next == "" {
					break
				}
				opts.Cursor = next
			}
			slices.Sort(out)
			return out
		}
		for _, tc := range []struct {
			opts ListOptions
			want []string
		}{
			{ListOptions{Search: "web"}, []string{"WEBSERVER", "Web_02", "web-01"}},
			{ListOptions{Search: "WEB"}, []string{"WEBSERVER", "Web_02", "web-01"}},
			{ListOptions{Search: "_"}, []string{"Web_02"}},
			{ListOptions{Search: "a_b"}, nil},
			{ListOptions{Search: "%"}, []string{"db%1"}},
			{ListOptions{Search: "b%"}, []string{"db%1"}},
			{ListOptions{Search: `\`}, []string{`back\slash`}},
			{ListOptions{Search: "A1"}, []string{"web-01"}},
			{ListOptions{Search: "b1000000-0000"}, []string{"db%1"}},
			{ListOptions{Search: "000000000004"}, nil}, // an id matches by its prefix only
			{ListOptions{Search: "web", State: vm.StateRunning}, []string{"WEBSERVER"}},
			{ListOptions{Search: "web", Limit: 1}, []string{"WEBSERVER", "Web_02", "web-01"}},
			{ListOptions{Search: "nothing"}, nil},
		} {
			if got := names(tc.opts); !slices.Equal(got, tc.want) {
				t.Errorf("List(%+v) = %q, want %q", tc.opts, got, tc.want)
			}
		}
	})
}
