package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestCapacity: a VM must fit the node that reported 16 CPUs and 64 GiB
// (the simulated host) under the default overcommit (CPU × 4, memory ×
// 1.5): at create and at an edit one VM alone (422 naming the field), at
// start the running VMs together (409); a disk is at most 64 TiB.
func TestCapacity(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	create := func(body string) reply { return e.do(t, "POST", "/api/vms", body) }

	create(`{"name":"huge-mem","vcpus":1,"memory_mib":17592186044416}`).want(t, http.StatusUnprocessableEntity, "", "memory_mib: 17592186044416")
	create(`{"name":"many-cpus","vcpus":1025,"memory_mib":64}`).want(t, http.StatusUnprocessableEntity, "", "vcpus: 1025 is more than")
	create(`{"name":"big-disk","vcpus":1,"memory_mib":64,"disks":[{"name":"root","size_gib":99999999}]}`).
		want(t, http.StatusUnprocessableEntity, "", "disks[0].size_gib: 99999999 GiB is more than the largest disk allowed, 65536 GiB (64 TiB)")
	create(`{"name":"cpu-over","vcpus":65,"memory_mib":64}`).
		want(t, http.StatusUnprocessableEntity, "", "vcpus: 65 is more than node api-test can run (16 CPUs × 4)")
	create(`{"name":"mem-over","vcpus":1,"memory_mib":98305}`).
		want(t, http.StatusUnprocessableEntity, "", "memory_mib: 98305 MiB is more than node api-test can hold (64 GiB × 1.5)")
	if r := e.do(t, "GET", "/api/vms", ""); len(r.body["vms"].([]any)) != 0 {
		t.Fatalf("refused creates left records: %s", r.raw)
	}

	// At the bounds.
	create(`{"name":"at-bound","vcpus":64,"memory_mib":98304,"disks":[{"name":"root","size_gib":65536}]}`).want(t, http.StatusCreated, "")
	e.do(t, "PATCH", "/api/vms/at-bound", `{"vcpus":65}`).want(t, http.StatusUnprocessableEntity, "", "vcpus: 65 is more than node api-test")
	e.do(t, "PATCH", "/api/vms/at-bound", `{"memory_mib":98305}`).want(t, http.StatusUnprocessableEntity, "", "memory_mib: 98305 MiB is more than node api-test")
	e.do(t, "PATCH", "/api/vms/at-bound", `{"disks":[{"name":"root","size_gib":65537}]}`).want(t, http.StatusUnprocessableEntity, "", "disks[0].size_gib")
	if r := e.do(t, "GET", "/api/vms/at-bound", ""); !strings.Contains(r.raw, `"spec":{"vcpus":64,"memory_mib":98304,"disks":[{"name":"root","size_gib":65536,`) {
		t.Errorf("refused edits changed the vm: %s", r.raw)
	}
	e.do(t, "PATCH", "/api/vms/at-bound", `{"vcpus":8,"memory_mib":40960}`).want(t, http.StatusOK, "")

	// The running VMs together: 40 + 40 GiB run; 20 GiB more would pass
	// the 96 GiB the node can hold.
	create(`{"name":"second","vcpus":1,"memory_mib":40960}`).want(t, http.StatusCreated, "")
	create(`{"name":"third","vcpus":1,"memory_mib":20480}`).want(t, http.StatusCreated, "")
	e.do(t, "POST", "/api/vms/at-bound/start", "").want(t, http.StatusOK, "")
	e.do(t, "POST", "/api/vms/second/start", "").want(t, http.StatusOK, "")
	r := e.do(t, "POST", "/api/vms/third/start", "")
	r.want(t, http.StatusConflict, "", `memory_mib: vm "third" needs 20 GiB; node api-test has 80 GiB allocated to running vms of the 96 GiB it can hold (64 GiB × 1.5): stop another vm first`)
	if r.str("vm.state") != "STOPPED" {
		t.Errorf("refused start: vm %s", r.raw)
	}
	e.do(t, "POST", "/api/vms/second/stop", `{"force":true}`).want(t, http.StatusOK, "")
	e.do(t, "POST", "/api/vms/third/start", "").want(t, http.StatusOK, "")
	// vcpus: 9 of 64 run; 56 more would pass.
	e.do(t, "PATCH", "/api/vms/second", `{"vcpus":56,"memory_mib":1024}`).want(t, http.StatusOK, "")
	e.do(t, "POST", "/api/vms/second/start", "").want(t, http.StatusConflict, "",
		`vcpus: vm "second" needs 56; node api-test has 9 allocated to running vms of the 64 it can run (16 CPUs × 4): stop another vm first`)
	e.do(t, "PATCH", "/api/vms/second", `{"vcpus":55}`).want(t, http.StatusOK, "")
	e.do(t, "POST", "/api/vms/second/start", "").want(t, http.StatusOK, "")
}
