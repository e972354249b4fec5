package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCreateValidation: every bad create body, with its status, code and
// message.
func TestCreateValidation(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "taken")
	long := strings.Repeat("a", 65)
	cases := []struct {
		name, body string
		status     int
		code       string
		parts      []string
	}{
		{"malformed", `{"name": "a",`, 400, "bad_request", []string{"malformed JSON"}},
		{"syntax", `{"name" "a"}`, 400, "bad_request", []string{"malformed JSON at byte"}},
		{"empty", ``, 400, "bad_request", []string{"empty"}},
		{"not an object", `[1,2]`, 400, "bad_request", []string{"expected an object"}},
		{"trailing data", `{"name":"a","vcpus":1,"memory_mib":64} {}`, 400, "bad_request", []string{"after the object"}},
		{"unknown field", `{"name":"a","vcpus":1,"memory_mib":64,"color":"red"}`, 400, "bad_request", []string{`unknown field "color"`}},
		{"disk path is the host's", `{"name":"a","vcpus":1,"memory_mib":64,"disks":[{"size_gib":1,"path":"/x"}]}`, 400, "bad_request", []string{`unknown field "path"`}},
		{"vcpus type", `{"name":"a","vcpus":"two","memory_mib":64}`, 422, "invalid_argument", []string{"vcpus: must be a whole number"}},
		{"vcpus fraction", `{"name":"a","vcpus":1.5,"memory_mib":64}`, 422, "invalid_argument", []string{"vcpus:"}},
		{"vcpus zero", `{"name":"a","vcpus":0,"memory_mib":64}`, 422, "invalid_argument", []string{"vcpus: must be at least 1"}},
		{"vcpus missing", `{"name":"a","memory_mib":64}`, 422, "invalid_argument", []string{"vcpus: must be at least 1"}},
		{"vcpus negative", `{"name":"a","vcpus":-2,"memory_mib":64}`, 422, "invalid_argument", []string{"vcpus: must be at least 1"}},
		{"vcpus too many", `{"name":"a","vcpus":5000,"memory_mib":64}`, 422, "invalid_argument", []string{"vcpus: 5000 is more than 4096"}},
		{"memory small", `{"name":"a","vcpus":1,"memory_mib":8}`, 422, "invalid_argument", []string{"memory_mib: must be at least 16"}},
		{"name empty", `{"vcpus":1,"memory_mib":64}`, 422, "invalid_argument", []string{"name: must not be empty"}},
		{"name chars", `{"name":"bad name!","vcpus":1,"memory_mib":64}`, 422, "invalid_argument", []string{"name:", "letters, digits"}},
		{"name long", `{"name":"` + long + `","vcpus":1,"memory_mib":64}`, 422, "invalid_argument", []string{"name: 65 characters"}},
		{"disk size", `{"name":"a","vcpus":1,"memory_mib":64,"disks":[{}]}`, 422, "invalid_argument", []string{"disks[0]: needs size_gib"}},
		{"disk bus", `{"name":"a","vcpus":1,"memory_mib":64,"disks":[{"size_gib":1,"bus":"usb"}]}`, 422, "invalid_argument", []string{"disks[0].bus"}},
		{"nic type", `{"name":"a","vcpus":1,"memory_mib":64,"nics":[{"type":"wifi"}]}`, 422, "invalid_argument", []string{"nics[0].type"}},
		{"nic source", `{"name":"a","vcpus":1,"memory_mib":64,"nics":[{"type":"bridge"}]}`, 422, "invalid_argument", []string{"nics[0].source"}},
		{"nic mac", `{"name":"a","vcpus":1,"memory_mib":64,"nics":[{"type":"user","mac":"zz"}]}`, 422, "invalid_argument", []string{"nics[0].mac"}},
		{"boot", `{"name":"a","vcpus":1,"memory_mib":64,"boot":["floppy"]}`, 422, "invalid_argument", []string{"boot[0]"}},
		{"restart policy", `{"name":"a","vcpus":1,"memory_mib":64,"restart_policy":"sometimes"}`, 422, "invalid_argument", []string{"restart_policy"}},
		{"label key", `{"name":"a","vcpus":1,"memory_mib":64,"labels":{"bad key":"x"}}`, 422, "invalid_argument", []string{"labels"}},
		{"labels type", `{"name":"a","vcpus":1,"memory_mib":64,"labels":{"k":1}}`, 422, "invalid_argument", []string{"labels"}},
		{"description", `{"name":"a","vcpus":1,"memory_mib":64,"description":"` + strings.Repeat("d", 1025) + `"}`, 422, "invalid_argument", []string{"description: 1025 bytes"}},
		{"unknown node", `{"name":"a","vcpus":1,"memory_mib":64,"node_id":"nowhere"}`, 422, "invalid_argument", []string{`node_id: node "nowhere" not found`}},
		{"duplicate name", `{"name":"taken","vcpus":1,"memory_mib":64}`, 409, "conflict", []string{`vm name "taken" is taken`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do(t, "POST", "/api/vms", c.body).want(t, c.status, c.code, c.parts...)
		})
	}
	list := e.do(t, "GET", "/api/vms", "")
	if vms := list.body["vms"].([]any); len(vms) != 1 {
		t.Errorf("bad creates left %d vms, want only the first", len(vms))
	}
}

// TestBodyLimit: bodies over 1 MiB are 413, with or without a length.
func TestBodyLimit(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	big := `{"name":"a","description":"` + strings.Repeat("x", 1<<20) + `"}`
	e.do(t, "POST", "/api/vms", big).want(t, http.StatusRequestEntityTooLarge, "payload_too_large", "1 MiB")
	chunked := io.MultiReader(strings.NewReader(big))
	e.doReader(t, "POST", "/api/vms", chunked).want(t, http.StatusRequestEntityTooLarge, "payload_too_large", "1 MiB")
	e.do(t, "PATCH", "/api/vms/x", big).want(t, http.StatusRequestEntityTooLarge, "payload_too_large")
}

// TestQueryValidation: every bad query parameter is a 400 naming it.
func TestQueryValidation(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "q")
	cases := []struct {
		method, path string
		parts        []string
	}{
		{"GET", "/api/vms?limit=0", []string{"limit", "between 1 and 1000"}},
		{"GET", "/api/vms?limit=1001", []string{"limit"}},
		{"GET", "/api/vms?limit=ten", []string{"limit"}},
		{"GET", "/api/vms?state=flying", []string{"state:", "flying"}},
		{"GET", "/api/vms?origin=elsewhere", []string{"origin:"}},
		{"GET", "/api/vms?label=novalue", []string{"label:", "key=value"}},
		{"GET", "/api/vms?label=a=1&label=a=2", []string{"label:", "twice"}},
		{"GET", "/api/vms?cursor=not-a-cursor", []string{"cursor"}},
		{"GET", "/api/vms/q/logs?lines=0", []string{"lines", "between 1 and 10000"}},
		{"GET", "/api/vms/q/logs?lines=10001", []string{"lines"}},
		{"GET", "/api/vms/q/logs?lines=many", []string{"lines"}},
		{"POST", "/api/vms/q/stop?force=maybe", []string{"force:", "maybe"}},
		{"POST", "/api/vms/q/stop?timeout=soon", []string{"timeout:", "duration"}},
		{"POST", "/api/vms/q/stop?timeout=30", []string{"timeout:"}},
		{"POST", "/api/vms/q/stop?timeout=0s", []string{"timeout:"}},
		{"POST", "/api/vms/q/stop?timeout=2h", []string{"timeout:"}},
		{"POST", "/api/vms/q/reset_state?force=yes", []string{"force:"}},
		{"DELETE", "/api/vms/q?force=2", []string{"force:"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			e.do(t, c.method, c.path, "").want(t, http.StatusBadRequest, "bad_request", c.parts...)
		})
	}
}

// TestNotFound: unknown VMs, nodes and routes are 404; a method a route
// does not take is 405.
func TestNotFound(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	for _, c := range []struct{ method, path, msg string }{
		{"GET", "/api/vms/x", `vm "x" not found`},
		{"PATCH", "/api/vms/x", `vm "x" not found`},
		{"GET", "/api/vms/x/logs", `vm "x" not found`},
		{"GET", "/api/nodes/n", `node "n" not found`},
		{"GET", "/api/nothing", "no route GET /api/nothing"},
	} {
		body := ""
		if c.method == "PATCH" {
			body = `{"description":"d"}`
		}
		e.do(t, c.method, c.path, body).want(t, http.StatusNotFound, "not_found", c.msg)
	}
	for _, path := range []string{"/api/vms/x/start", "/api/vms/x/reset_state", "/api/vms/x?force=true"} {
		method := "POST"
		if strings.Contains(path, "?") {
			method = "DELETE"
		}
		r := e.do(t, method, path, "")
		r.want(t, http.StatusNotFound, "not_found", `vm "x" not found`)
		if r.body["success"] != false {
			t.Errorf("%s: action failure without success=false: %s", path, r.raw)
		}
	}
	e.do(t, "PUT", "/api/vms", "").want(t, http.StatusMethodNotAllowed, "method_not_allowed", "PUT")
}

// TestPatchValidation: bad patches, refused edits and name conflicts.
func TestPatchValidation(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "p1")
	e.create(t, "p2")
	cases := []struct {
		body   string
		status int
		code   string
		parts  []string
	}{
		{`{"colour":"red"}`, 400, "bad_request", []string{`unknown field "colour"`}},
		{`{"name":`, 400, "bad_request", []string{"malformed JSON"}},
		{`{"vcpus":0}`, 422, "invalid_argument", []string{"vcpus: must be at least 1"}},
		{`{"vcpus":"many"}`, 422, "invalid_argument", []string{"vcpus: must be a whole number"}},
		{`{"desired_state":"paused"}`, 422, "invalid_argument", []string{"desired_state"}},
		{`{"restart_policy":""}`, 422, "invalid_argument", []string{"restart_policy"}},
		{`{"name":"p2"}`, 409, "conflict", []string{`vm name "p2" is taken`}},
		{`{"name":"no spaces"}`, 422, "invalid_argument", []string{"name:"}},
	}
	for _, c := range cases {
		e.do(t, "PATCH", "/api/vms/p1", c.body).want(t, c.status, c.code, c.parts...)
	}
	r := e.do(t, "PATCH", "/api/vms/p1", `{"vcpus":2,"labels":{"env":"dev"},"description":"first"}`)
	r.want(t, http.StatusOK, "")
	if spec := r.body["spec"].(map[string]any); spec["vcpus"] != float64(2) || r.str("labels.env") != "dev" || r.str("description") != "first" {
		t.Errorf("patched vm = %s", r.raw)
	}
	e.do(t, "POST", "/api/vms/p1/start", "").want(t, http.StatusOK, "")
	e.do(t, "PATCH", "/api/vms/p1", `{"memory_mib":128}`).want(t, http.StatusConflict, "conflict", "cannot edit", "RUNNING", "stop it first")
	e.do(t, "PATCH", "/api/vms/p1", `{"labels":{"env":"prod"},"restart_policy":"always","desired_state":"stopped"}`).want(t, http.StatusOK, "")
}

// TestPatchKernelBoot: PATCH sets, checks and clears kernel, initrd and
// cmdline as create checks them (422 naming the field), only on a VM that
// may be edited, and the VM reads them back.
func TestPatchKernelBoot(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "pk1")
	for _, c := range []struct {
		body  string
		parts []string
	}{
		{`{"kernel":"vmlinuz"}`, []string{"kernel:", "absolute"}},
		{`{"kernel":"/srv/vm\u0000linuz"}`, []string{"kernel:"}},
		{`{"initrd":"/srv/guest/initrd.img"}`, []string{"initrd: only allowed with kernel"}},
		{`{"cmdline":"console=ttyS0"}`, []string{"cmdline: only allowed with kernel"}},
		{`{"kernel":"/srv/guest/vmlinuz","cmdline":"console=ttyS0\nquiet"}`, []string{"cmdline: control character"}},
		{`{"kernel":"/srv/guest/vmlinuz","initrd":"initrd.img"}`, []string{"initrd:", "absolute"}},
	} {
		e.do(t, "PATCH", "/api/vms/pk1", c.body).want(t, http.StatusUnprocessableEntity, "invalid_argument", c.parts...)
	}
	r := e.do(t, "PATCH", "/api/vms/pk1", `{"kernel":"/srv/guest/vmlinuz","initrd":"/srv/guest/initrd.img","cmdline":"console=ttyS0 quiet"}`)
	r.want(t, http.StatusOK, "")
	if r.str("spec.kernel") != "/srv/guest/vmlinuz" || r.str("spec.initrd") != "/srv/guest/initrd.img" || r.str("spec.cmdline") != "console=ttyS0 quiet" {
		t.Fatalf("patched vm = %s", r.raw)
	}
	if got := e.do(t, "GET", "/api/vms/pk1", ""); got.str("spec.kernel") != "/srv/guest/vmlinuz" || got.str("spec.cmdline") != "console=ttyS0 quiet" {
		t.Errorf("vm read back = %s", got.raw)
	}
	e.do(t, "PATCH", "/api/vms/pk1", `{"kernel":""}`).want(t, http.StatusUnprocessableEntity, "invalid_argument", "initrd:", "needs a kernel")
	e.do(t, "PATCH", "/api/vms/pk1", `{"kernel":"","initrd":""}`).want(t, http.StatusUnprocessableEntity, "invalid_argument", "cmdline:", "needs a kernel")
	r = e.do(t, "PATCH", "/api/vms/pk1", `{"kernel":"","initrd":"","cmdline":""}`)
	r.want(t, http.StatusOK, "")
	if r.str("spec.kernel") != "" || r.str("spec.initrd") != "" || r.str("spec.cmdline") != "" {
		t.Fatalf("cleared vm = %s", r.raw)
	}
	e.do(t, "POST", "/api/vms/pk1/start", "").want(t, http.StatusOK, "")
	e.do(t, "PATCH", "/api/vms/pk1", `{"cmdline":"quiet"}`).want(t, http.StatusConflict, "conflict", "cannot edit", "RUNNING", "stop it first")
}
