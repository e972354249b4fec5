package logs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

func TestSystemSource(t *testing.T) {
	st := openTestStore(t)
	p := openPipeline(t, t.TempDir(), Options{Store: st.Logs()})
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "quantixd", Level: hclog.Trace, Output: io.Discard})
	src := p.NewSystemSource(hclog.Info)
	logger.RegisterSink(src)
	sub := logger.Named("agent")
	logger.Debug("not taken: below info")
	sub.Info("vm started", "vm_id", "vm-7", "node_id", "n-1", "request_id", "req-1", "took", 1500000000, "err", errors.New("boom"), "bad\xff", "x\xffy")
	logger.Warn("odd args", "lonely")
	logger.Error("an error")
	logger.DeregisterSink(src)
	logger.Info("not taken: after deregistering")
	src.Close()

	wait.Until(t, settle, "3 system entries in the store", func() bool { return storeCount(t, st) == 3 })
	page, err := st.Logs().Query(context.Background(), store.LogQuery{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	e := page.Entries[0]
	if e.Source != logsink.SourceSystem || e.Level != logsink.LevelInfo || e.Message != "vm started" || e.Component != logsink.ComponentNode ||
		e.VMID != "vm-7" || e.NodeID != "n-1" || e.CorrelationID != "req-1" {
		t.Errorf("first entry: %+v", e)
	}
	var fields map[string]any
	if err := json.Unmarshal(e.Fields, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["logger"] != "quantixd.agent" || fields["err"] != "boom" || fields["took"] != float64(1500000000) || fields["bad\uFFFD"] != "x\uFFFDy" {
		t.Errorf("fields %s", e.Fields)
	}
	if page.Entries[1].Level != logsink.LevelWarn || page.Entries[2].Level != logsink.LevelError || page.Entries[2].Component != logsink.ComponentSystem {
		t.Errorf("levels and components: %+v", page.Entries[1:])
	}
	if !json.Valid(page.Entries[1].Fields) || string(page.Entries[1].Fields) == "" {
		t.Errorf("an odd argument list gave fields %s", page.Entries[1].Fields)
	}
}
