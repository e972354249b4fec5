package clusterbus

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/vm"
)

// BenchmarkCrossServerLatency: a VM event committed through server A, until
// it is on the event stream of A itself and of server B (two store
// handles, two listeners, one PostgreSQL database), in one run. Latencies
// are measured from the start of the commit; commit_ms is the commit
// alone.
func BenchmarkCrossServerLatency(b *testing.B) {
	srv := cluster(b, 2, false)
	addVMQuiet(b, srv[0], "bench")
	type arrival struct {
		id int64
		at time.Time
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrivals := make([]chan arrival, len(srv))
	for i, s := range srv {
		arrivals[i] = make(chan arrival, 16)
		es, err := s.broker.Subscribe(nil, s.st.Events())
		if err != nil {
			b.Fatal(err)
		}
		defer es.Close()
		go func() {
			for {
				ev, err := es.Next(ctx)
				if err != nil {
					return
				}
				if ev.Kind == events.StreamVM {
					arrivals[i] <- arrival{ev.VM.ID, time.Now()}
				}
			}
		}()
	}
	var same, other, commit []time.Duration
	await := func(ch chan arrival, id int64) time.Time {
		for {
			select {
			case a := <-ch:
				if a.id == id {
					return a.at
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("event %d never arrived", id)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		ev := &vm.Event{VMID: "bench", Action: "x"}
		t0 := time.Now()
		if err := srv[0].st.Events().Append(ctx, ev); err != nil {
			b.Fatal(err)
		}
		commit = append(commit, time.Since(t0))
		same = append(same, await(arrivals[0], ev.ID).Sub(t0))
		other = append(other, await(arrivals[1], ev.ID).Sub(t0))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(ds []time.Duration, p float64) time.Duration {
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(float64(len(ds))*p))]
	}
	b.ReportMetric(ms(pct(commit, 0.5)), "commit_ms")
	b.ReportMetric(ms(pct(same, 0.5)), "same_p50_ms")
	b.ReportMetric(ms(pct(same, 0.99)), "same_p99_ms")
	b.ReportMetric(ms(pct(other, 0.5)), "other_p50_ms")
	b.ReportMetric(ms(pct(other, 0.99)), "other_p99_ms")
}
