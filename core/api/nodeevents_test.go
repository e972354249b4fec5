package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
)

type nodeEventsList struct {
	Events      []storedNodeEvent `json:"events"`
	ResumeSince string            `json:"resume_since"`
	NextBefore  string            `json:"next_before"`
}

func listNodeEvents(t *testing.T, e *env, path string) nodeEventsList {
	t.Helper()
	r := e.do(t, "GET", path, "")
	r.want(t, http.StatusOK, "")
	var out nodeEventsList
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNodeEventsListed: node changes are stored as they are published and
// listed newest first, for one node (by id or name) and for every node,
// with the id the stream gave them, paged back with before; bad
// parameters are 400 naming them. On both databases.
func TestNodeEventsListed(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, false)
			ctx := context.Background()
			srv := httptest.NewServer(e.srv)
			defer srv.Close()
			stream, stop := openStream(t, cred{token: e.token}, srv.URL, "", nil)
			defer stop()
			rec := e.svc.Reconciler()
			register := func(name string) string {
				id, err := rec.Register(ctx, nodeapi.Registration{NodeName: name, Backend: node.Backend{Name: "libvirt", Healthy: true}})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			a := register("host-a")
			b := register("host-b")
			rec.Disconnected(ctx, a)

			// The stream's ids of the three changes, in order.
			var streamed []streamNodeEvent
			for len(streamed) < 3 {
				m := stream.nextEvent(t)
				if m.event != "node" {
					continue
				}
				var ev streamNodeEvent
				if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
					t.Fatal(err)
				}
				streamed = append(streamed, ev)
			}

			all := listNodeEvents(t, e, "/api/events?latest=10&kind=node")
			if len(all.Events) != 3 {
				t.Fatalf("%d node events listed, want 3: %+v", len(all.Events), all.Events)
			}
			for i, ev := range all.Events {
				want := streamed[2-i]
				want.Time = want.Time.Truncate(time.Microsecond) // stored to the microsecond
				if ev.streamNodeEvent != want {
					t.Errorf("listed %d = %+v, the stream had %+v", i, ev.streamNodeEvent, want)
				}
				if i > 0 && ev.EventID >= all.Events[i-1].EventID {
					t.Errorf("event %d has id %d after %d: not newest first", i, ev.EventID, all.Events[i-1].EventID)
				}
			}
			if got := all.Events[0]; got.Action != "disconnect" || got.NodeID != a || got.NodeName != "host-a" {
				t.Errorf("newest %+v, want host-a's disconnection", got)
			}
			if all.NextBefore != "" {
				t.Errorf("next_before %q with every event listed", all.NextBefore)
			}

			for _, ref := range []string{a, "host-a"} {
				one := listNodeEvents(t, e, "/api/nodes/"+ref+"/events?latest=10")
				if len(one.Events) != 2 || one.Events[0].Action != "disconnect" || one.Events[1].Action != "register" || one.Events[1].NodeID != a {
					t.Errorf("events of %s: %+v", ref, one.Events)
				}
			}
			first := listNodeEvents(t, e, "/api/nodes/"+a+"/events?latest=1")
			if len(first.Events) != 1 || first.NextBefore == "" {
				t.Fatalf("a page of 1 of 2: %+v", first)
			}
			older := listNodeEvents(t, e, "/api/nodes/"+a+"/events?latest=1&before="+first.NextBefore)
			if len(older.Events) != 1 || older.Events[0].Action != "register" || older.NextBefore != "" {
				t.Errorf("the page before %s: %+v", first.NextBefore, older)
			}
			if got := listNodeEvents(t, e, "/api/events?latest=10&kind=node&node_id=host-b").Events; len(got) != 1 || got[0].NodeID != b {
				t.Errorf("kind=node&node_id=host-b: %+v", got)
			}
			// kind=vm is the default list.
			if vms := latest(t, e, "latest=10&kind=vm"); len(vms.Events) != 0 {
				t.Errorf("kind=vm listed %+v, want no VM event", vms.Events)
			}

			for _, bad := range []struct{ path, field string }{
				{"/api/events?latest=5&kind=nodes", "kind"},
				{"/api/events?kind=node", "kind"}, // a filter of the list, not the stream
				{"/api/events?latest=5&kind=node&cause=api", "cause"},
				{"/api/events?latest=5&kind=node&vm_id=x", "vm_id"},
				{"/api/events?latest=5&kind=node&node_id=nowhere", "node_id"},
				{"/api/nodes/" + a + "/events?latest=0", "latest"},
				{"/api/nodes/" + a + "/events?before=x", "before"},
			} {
				e.do(t, "GET", bad.path, "").want(t, http.StatusBadRequest, "bad_request", bad.field)
			}
			e.do(t, "GET", "/api/nodes/nowhere/events", "").want(t, http.StatusNotFound, "not_found", "nowhere")
			if strings.Contains(all.ResumeSince, ".") || all.ResumeSince == "" {
				t.Errorf("resume_since %q, want a VM event id", all.ResumeSince)
			}
		})
	}
}
