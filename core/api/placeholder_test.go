package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/backend"
)

// leavePlaceholder writes the CREATING record a create writes before it
// asks the host, as a server killed during the create leaves it: no request
// of this process runs that create.
func (e *env) leavePlaceholder(t *testing.T, name string) string {
	t.Helper()
	p := &vm.VM{
		ID: uuid.NewString(), Name: name, Origin: vm.OriginControlPlane, IsManaged: true,
		DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever, NodeID: e.node,
		Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64, Disks: []vm.Disk{{Name: "root", SizeGiB: 1}}},
	}
	if err := e.svc.Reconciler().Reserve(context.Background(), p, controlplane.Note{Cause: vm.CauseAPI, Action: "create", Message: "creation requested"}); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// named returns the records the API lists under name.
func (e *env) named(t *testing.T, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	var list struct {
		VMs []map[string]any `json:"vms"`
	}
	if err := json.Unmarshal([]byte(e.raw(t, "GET", "/api/vms?limit=1000")), &list); err != nil {
		t.Fatal(err)
	}
	for _, v := range list.VMs {
		if v["name"] == name {
			out = append(out, v)
		}
	}
	return out
}

// TestResetStateOfLeftoverCreate: reset_state on the record a create left
// when the server stopped during it takes over the VM the host made (one
// record for the name, the host's UUID, the host's state, managed, startable
// and stoppable), or removes the record when the host has no such VM (the
// name is free again), instead of making it a STOPPED VM the host lacks.
func TestResetStateOfLeftoverCreate(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, true)
			ctx := context.Background()

			// The create reached the host, which has the VM running now.
			pid := e.leavePlaceholder(t, "half-made")
			made, err := e.b.CreateVM(ctx, backend.VMSpec{Name: "half-made", VCPUs: 1, MemoryMiB: 64, Disks: []backend.DiskSpec{{Name: "root", SizeGiB: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.b.StartVM(ctx, made.ID); err != nil {
				t.Fatal(err)
			}
			e.host.Settle(t)
			r := e.do(t, "POST", "/api/vms/"+pid+"/reset_state", "")
			r.want(t, http.StatusOK, "")
			if msg := r.str("message"); !strings.Contains(msg, "recorded under its host id "+made.ID) || !strings.Contains(msg, "RUNNING") {
				t.Errorf("message %q, want it to say the vm is recorded under %s, RUNNING", msg, made.ID)
			}
			if r.str("vm.id") != made.ID || r.str("vm.state") != "RUNNING" || r.str("vm.origin") != string(vm.OriginControlPlane) {
				t.Errorf("vm in the reply: %s", r.raw)
			}
			recs := e.named(t, "half-made")
			if len(recs) != 1 || recs[0]["id"] != made.ID || recs[0]["state"] != "RUNNING" || recs[0]["is_managed"] != true {
				t.Fatalf("records named half-made: %v, want one: %s RUNNING managed", recs, made.ID)
			}
			e.do(t, "GET", "/api/vms/"+pid, "").want(t, http.StatusNotFound, "")
			e.do(t, "POST", "/api/vms/half-made/stop", `{"force":true}`).want(t, http.StatusOK, "")
			e.do(t, "POST", "/api/vms/half-made/start", "").want(t, http.StatusOK, "")
			if recs := e.named(t, "half-made"); len(recs) != 1 || recs[0]["state"] != "RUNNING" {
				t.Errorf("after stop and start: %v", recs)
			}

			// The create never reached the host.
			pid = e.leavePlaceholder(t, "never-made")
			r = e.do(t, "POST", "/api/vms/never-made/reset_state", "")
			r.want(t, http.StatusOK, "", "never created on node", "leftover record is removed")
			if r.body["vm"] != nil {
				t.Errorf("a removed record in the reply: %s", r.raw)
			}
			e.do(t, "GET", "/api/vms/"+pid, "").want(t, http.StatusNotFound, "")
			if recs := e.named(t, "never-made"); len(recs) != 0 {
				t.Errorf("records named never-made after reset_state: %v", recs)
			}
			e.create(t, "never-made")

			// force removes the record without asking.
			pid = e.leavePlaceholder(t, "forced")
			e.do(t, "POST", "/api/vms/"+pid+"/reset_state?force=true", "").want(t, http.StatusOK, "", "removed without asking")
			e.do(t, "GET", "/api/vms/"+pid, "").want(t, http.StatusNotFound, "")
		})
	}
}

// TestConcurrentCreatesNameNoPlaceholder: of concurrent creates of one
// name, one wins; every 409 of the others that names a vm id names one
// that exists afterwards (the winner's final id), never the temporary id
// of its record while it was being created.
func TestConcurrentCreatesNameNoPlaceholder(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	const n = 30
	replies := make(chan reply, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := e.authorize(httptest.NewRequest("POST", "/api/vms", strings.NewReader(`{"name":"contested","vcpus":1,"memory_mib":64}`)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			r := reply{status: rec.Code, raw: rec.Body.String()}
			_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
			replies <- r
		}()
	}
	wg.Wait()
	close(replies)
	e.host.Settle(t)
	uuidRE := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	won, named := 0, 0
	for r := range replies {
		switch r.status {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
			for _, id := range uuidRE.FindAllString(r.str("message"), -1) {
				named++
				e.do(t, "GET", "/api/vms/"+id, "").want(t, http.StatusOK, "")
			}
		default:
			t.Errorf("status %d: %s", r.status, r.raw)
		}
	}
	if won != 1 {
		t.Errorf("%d creates won, want 1", won)
	}
	t.Logf("%d of %d conflicts named an id", named, n-1)
}
