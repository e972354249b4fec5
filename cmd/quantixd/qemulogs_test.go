package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vmlog"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// writeQEMULogsConfig writes the config of a `quantixd dev` driving
// qemu:///system, with the file log sink taking source qemu into sinkPath.
func writeQEMULogsConfig(t *testing.T, dir, sinkPath string) string {
	t.Helper()
	backend, err := testbin.LibvirtPlugin()
	if err != nil {
		t.Fatalf("the libvirt plugin is needed: %v", err)
	}
	cfg := fmt.Sprintf(`log_level = "debug"
plugin_dir = %q
plugin "libvirt" {
  path = %q
  config {
    uri       = %q
    image_dir = %q
  }
}
log_sink "file" {
  sources = ["qemu"]
  config {
    path = %q
  }
}
`, logSinkPluginDir(t), backend, testlibvirt.QEMUURI, e2e.imageDir, sinkPath)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// qemuEntries returns the stored entries of source qemu of VM id.
func qemuEntries(t *testing.T, d *proc, id string) []logsink.Entry {
	t.Helper()
	r := d.must(t, http.StatusOK, "GET", "/api/logs?source=qemu&limit=1000&order=asc&vm_id="+id, "")
	var page struct {
		Logs []logsink.Entry `json:"logs"`
	}
	if err := json.Unmarshal([]byte(r.raw), &page); err != nil {
		t.Fatalf("GET /api/logs: %v: %s", err, r.raw)
	}
	return page.Logs
}

// waitEntry waits until entries() has one whose message contains text,
// and returns them all.
func waitEntry(t *testing.T, what, text string, entries func() []logsink.Entry) []logsink.Entry {
	t.Helper()
	var es []logsink.Entry
	wait.UntilNil(t, 30*time.Second, fmt.Sprintf("%s: an entry containing %q", what, text), func() error {
		es = entries()
		if slices.ContainsFunc(es, func(e logsink.Entry) bool { return strings.Contains(e.Message, text) }) {
			return nil
		}
		var msgs []string
		for _, e := range es {
			msgs = append(msgs, e.Message)
		}
		return fmt.Errorf("entries:\n%s", strings.Join(msgs, "\n"))
	})
	return es
}

// TestE2EQEMULogs: the QEMU log lines of a VM running under `quantixd dev`
// on libvirt reach the built-in store (GET /api/logs) and a file log sink,
// as entries of source qemu with the VM's and the node's ids, at the seed's
// severities; the line QEMU writes when it is killed, after the VM
// stopped, arrives too.
func TestE2EQEMULogs(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	sinkPath := filepath.Join(dir, "sink", "qemu.log")
	d := startDaemon(t, "dev", "-config", writeQEMULogsConfig(t, dir, sinkPath), "-data-dir", dir)
	name := vmName(t)
	id := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	node := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "").str("node_id")
	d.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")

	stored := func() []logsink.Entry { return qemuEntries(t, d, id) }
	waitEntry(t, "the store", "starting up libvirt", stored)
	d.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/stop?force=true", "")
	es := waitEntry(t, "the store after a forced stop", "terminating on signal", stored)
	levels := map[vmlog.Severity]logsink.Level{
		vmlog.SeverityError: logsink.LevelError, vmlog.SeverityWarning: logsink.LevelWarn, vmlog.SeverityInfo: logsink.LevelInfo,
	}
	for _, e := range es {
		if e.Source != logsink.SourceQEMU || e.Component != logsink.ComponentQEMU || e.VMID != id || e.NodeID != node || e.ID == "" {
			t.Errorf("stored entry %+v; want source and component qemu, vm_id %s, node_id %s", e, id, node)
		}
		if want := levels[vmlog.Classify(e.Message)]; e.Level != want {
			t.Errorf("%q is stored at level %s, want %s", e.Message, e.Level, want)
		}
		if strings.Contains(e.Message, "terminating on signal") && e.Level != logsink.LevelError {
			t.Errorf("%q is stored at level %s, want error", e.Message, e.Level)
		}
	}
	if !slices.ContainsFunc(es, func(e logsink.Entry) bool {
		return strings.HasPrefix(e.Message, "char device redirected to /dev/pts/") && e.Level == logsink.LevelInfo
	}) {
		t.Error("no info entry of QEMU's serial console redirection")
	}

	// The file sink gets every stored entry, with the same id.
	wait.UntilNil(t, 30*time.Second, "every stored entry in the file sink", func() error {
		all, err := file.ReadEntries(sinkPath)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		missing := slices.DeleteFunc(slices.Clone(es), func(e logsink.Entry) bool {
			return slices.ContainsFunc(all, func(f logsink.Entry) bool {
				return f.ID == e.ID && f.VMID == id && f.NodeID == node && f.Source == logsink.SourceQEMU && f.Message == e.Message
			})
		})
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d are missing, e.g. %+v", len(missing), len(es), missing[0])
		}
		return nil
	})
	d.must(t, http.StatusOK, "DELETE", "/api/vms/"+id, "")
	d.stop(t)
}
