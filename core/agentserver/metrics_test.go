package agentserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
)

// failingChanges is a recorder whose Change of the VM failID fails.
type failingChanges struct{ *recorder }

const failID = "ffffffff-0000-4000-8000-00000000000f"

func (f failingChanges) Change(ctx context.Context, nodeID string, ch nodeapi.Change) error {
	if ch.VMID == failID {
		return errors.New("the database is gone")
	}
	return f.recorder.Change(ctx, nodeID, ch)
}

// TestAgentServerMetrics: sessions attached now, opened and closed by
// reason; reports applied by kind and result with their latency, and the
// stale ones dropped.
func TestAgentServerMetrics(t *testing.T) {
	e := startAgentServer(t, nil, func(o *Options) { o.Handler = failingChanges{o.Handler.(*recorder)} })
	m := e.srv.metrics
	a := dialScripted(t, e)
	a.mustConnect("n1")
	// The client sees the Welcome before the server counts the session.
	wait.Until(t, 5*time.Second, "quantix_agent_sessions = 1 after one attach", func() bool {
		return testutil.ToFloat64(m.connected) == 1
	})
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	a.report(a.session, 1, &agentv1.FullSync{Vms: []*backendv1.VM{runningVM(id)}})
	a.report(a.session, 2, &agentv1.Change{Vm: runningVM(id), VmId: id})
	a.report(a.session, 3, &agentv1.Change{Gone: true, VmId: failID})
	a.report(a.session, 2, &agentv1.Change{Gone: true, VmId: id}) // stale
	a.report(a.session, 4, &agentv1.Heartbeat{StateHash: "h"})
	a.recvHeartbeatReply()
	for _, c := range []struct {
		kind, result string
		want         float64
	}{
		{ReportFullSync, "ok", 1}, {ReportChange, "ok", 1}, {ReportChange, "error", 1}, {ReportHeartbeat, "ok", 1}, {ReportHeartbeat, "error", 0},
	} {
		if got := testutil.ToFloat64(m.applied.WithLabelValues(c.kind, c.result)); got != c.want {
			t.Errorf("quantix_agent_reports_applied_total{kind=%q,result=%q} = %v, want %v", c.kind, c.result, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("stale")); got != 1 {
		t.Errorf("stale reports dropped = %v, want 1", got)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.srv.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "quantix_agent_report_apply_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			counts[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
		}
	}
	if counts[ReportFullSync] != 1 || counts[ReportChange] != 2 || counts[ReportHeartbeat] != 1 {
		t.Errorf("apply latencies observed by kind: %v, want full_sync 1, change 2, heartbeat 1", counts)
	}

	// A new session of the node supersedes the first.
	b := dialScripted(t, e)
	b.mustConnect("n1")
	wait.Until(t, 5*time.Second, "the superseded session is counted closed", func() bool {
		return testutil.ToFloat64(m.closed.WithLabelValues(EndSuperseded)) == 1
	})
	if got := testutil.ToFloat64(m.opened); got != 2 {
		t.Errorf("sessions opened = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.connected); got != 1 {
		t.Errorf("sessions now = %v, want 1", got)
	}
	// The agent closes its stream.
	b.cancel()
	wait.Until(t, 5*time.Second, "the closed session is counted", func() bool {
		return testutil.ToFloat64(m.closed.WithLabelValues(EndAgentClosed)) == 1 && testutil.ToFloat64(m.connected) == 0
	})
	problems, err := testutil.CollectAndLint(e.srv.Collector())
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
