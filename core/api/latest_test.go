package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
)

// TestLatestEvents: GET /api/events?latest=N lists the newest stored VM
// events, newest first, filtered by VM, node, action and cause, pages
// back with before, and names the stream position that follows them
// without a repeat or a miss; on both databases.
func TestLatestEvents(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, false)
			nodeID := e.discovered(t,
				&backend.VM{ID: foreignID, Name: "alpha", State: backend.StateRunning},
				&backend.VM{ID: otherID, Name: "beta", State: backend.StateRunning})
			e.do(t, "POST", "/api/vms/alpha/adopt", "").want(t, http.StatusOK, "")
			e.do(t, "POST", "/api/vms/beta/adopt", "").want(t, http.StatusOK, "")
			for i := range 3 {
				e.do(t, "PATCH", "/api/vms/alpha", fmt.Sprintf(`{"description":"v%d"}`, i)).want(t, http.StatusOK, "")
			}
			// The whole history, oldest first: discover ×2, adopt ×2, edit ×3.
			all := latest(t, e, "latest=1000")
			if len(all.Events) != 7 {
				t.Fatalf("%d events, want 7: %+v", len(all.Events), all.Events)
			}
			for i, ev := range all.Events {
				if ev.Kind != "vm" || ev.ID != fmt.Sprint(ev.EventID) || ev.VMID == "" || ev.Time.IsZero() {
					t.Errorf("event %d = %+v", i, ev)
				}
				if i > 0 && ev.EventID >= all.Events[i-1].EventID {
					t.Errorf("event %d has id %d after %d: not newest first", i, ev.EventID, all.Events[i-1].EventID)
				}
			}
			if got := all.Events[0]; got.Action != "edit" || got.VMID != foreignID {
				t.Errorf("newest %+v, want alpha's last edit", got)
			}
			if all.ResumeSince != all.Events[0].ID || all.NextBefore != "" {
				t.Errorf("resume_since %q, next_before %q; want %q and none", all.ResumeSince, all.NextBefore, all.Events[0].ID)
			}

			// Pages of 3 back to the start give the same history.
			var paged []string
			for before, pages := "", 0; pages < 5; pages++ {
				p := latest(t, e, "latest=3&before="+before)
				for _, ev := range p.Events {
					paged = append(paged, ev.ID)
				}
				if before = p.NextBefore; before == "" {
					break
				}
			}
			if want := ids(all.Events); strings.Join(paged, ",") != strings.Join(want, ",") {
				t.Errorf("paged %v, want %v", paged, want)
			}

			for _, tc := range []struct {
				query string
				want  func(ev streamVMEvent) bool
			}{
				{"vm_id=beta", func(ev streamVMEvent) bool { return ev.VMID == otherID }},
				{"vm_id=" + foreignID, func(ev streamVMEvent) bool { return ev.VMID == foreignID }},
				{"node_id=" + nodeID, func(streamVMEvent) bool { return true }},
				{"node_id=reporting-node&action=adopt", func(ev streamVMEvent) bool { return ev.Action == "adopt" }},
				{"action=edit", func(ev streamVMEvent) bool { return ev.Action == "edit" }},
				{"cause=host", func(ev streamVMEvent) bool { return ev.Cause == "host" }},
				{"vm_id=alpha&cause=api&action=adopt", func(ev streamVMEvent) bool { return ev.VMID == foreignID && ev.Action == "adopt" }},
			} {
				var want []string
				for _, ev := range all.Events {
					if tc.want(ev) {
						want = append(want, ev.ID)
					}
				}
				if got := ids(latest(t, e, "latest=100&"+tc.query).Events); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s: %v, want %v", tc.query, got, want)
				}
			}

			// The stream from resume_since carries what came after the list,
			// and nothing the list had.
			srv := httptest.NewServer(e.srv)
			defer srv.Close()
			p := latest(t, e, "latest=2")
			stream, stop := openStream(t, cred{token: e.token}, srv.URL, "?since="+p.ResumeSince, nil)
			defer stop()
			e.do(t, "PATCH", "/api/vms/beta", `{"description":"later"}`).want(t, http.StatusOK, "")
			for {
				m := stream.nextEvent(t)
				if m.event != "vm" {
					continue
				}
				var ev streamVMEvent
				if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.VMID != otherID || ev.Action != "edit" || ev.EventID <= p.Events[0].EventID {
					t.Errorf("first VM event after resume_since %s: %+v, want beta's new edit", p.ResumeSince, ev)
				}
				break
			}

			for _, bad := range []struct{ query, field string }{
				{"latest=0", "latest"},
				{"latest=1001", "latest"},
				{"latest=x", "latest"},
				{"latest=5&cause=user", "cause"},
				{"latest=5&vm_id=nobody", "vm_id"},
				{"latest=5&node_id=nowhere", "node_id"},
				{"latest=5&before=abc", "before"},
				{"latest=5&before=0", "before"},
				{"latest=5&action=" + strings.Repeat("a", 65), "action"},
				{"vm_id=alpha", "vm_id"}, // a filter of the stream
			} {
				e.do(t, "GET", "/api/events?"+bad.query, "").want(t, http.StatusBadRequest, "bad_request", bad.field)
			}
		})
	}
}

type latestReply struct {
	Events      []streamVMEvent `json:"events"`
	ResumeSince string          `json:"resume_since"`
	NextBefore  string          `json:"next_before"`
}

func latest(t *testing.T, e *env, query string) latestReply {
	t.Helper()
	r := e.do(t, "GET", "/api/events?"+query, "")
	r.want(t, http.StatusOK, "")
	var out latestReply
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(evs []streamVMEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// TestListVMsSearch: q keeps the VMs whose name holds it in any case (a
// % or _ in it is literal) or whose id starts with it, with the other
// filters and paging; on both databases.
func TestListVMsSearch(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, true)
			ids := map[string]string{}
			for _, n := range []string{"web-1", "Web_2", "webx2", "db-1", "cache"} {
				ids[n] = e.create(t, n)
			}
			e.do(t, "POST", "/api/vms/web-1/start", "").want(t, http.StatusOK, "")
			list := func(query string) []string {
				t.Helper()
				var names []string
				cursor := ""
				for pages := 0; pages < 10; pages++ {
					r := e.do(t, "GET", "/api/vms?"+query+"&cursor="+cursor, "")
					r.want(t, http.StatusOK, "")
					for _, v := range r.body["vms"].([]any) {
						names = append(names, v.(map[string]any)["name"].(string))
					}
					if cursor = r.str("next_cursor"); cursor == "" {
						break
					}
				}
				return names
			}
			for _, tc := range []struct {
				query string
				want  []string
			}{
				{"q=WEB", []string{"web-1", "Web_2", "webx2"}},
				{"q=web&limit=1", []string{"web-1", "Web_2", "webx2"}},
				{"q=b_", []string{"Web_2"}},
				{"q=%25", nil},
				{"q=web&state=RUNNING", []string{"web-1"}},
				{"q=" + ids["cache"][:8], []string{"cache"}},
				{"q=++", []string{"web-1", "Web_2", "webx2", "db-1", "cache"}}, // blank: no search
			} {
				if got := list(tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
				}
			}
			e.do(t, "GET", "/api/vms?q="+strings.Repeat("x", 101), "").want(t, http.StatusBadRequest, "bad_request", "q: 101 characters")
		})
	}
}
