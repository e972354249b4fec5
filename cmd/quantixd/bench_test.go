package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testlibvirt"
)

// reconcileRounds is how many destroys BenchmarkReconcileLatency times.
const reconcileRounds = 25

// BenchmarkReconcileLatency times how long a VM destroyed behind Quantix's
// back (`virsh destroy`) takes to show STOPPED in GET /api/vms/{id} of
// `quantixd dev`, against a baseline measured in the same rounds: the time
// until the same lifecycle event reaches a direct libvirt subscriber
// (`virsh event`). Both clocks start when `virsh destroy` is run; libvirt
// itself needs most of that time to stop QEMU. The figures: p50 and p99 of
// both, the ratio of the API's to the baseline's, and of the reconcile
// latency proper, from the subscriber's event to the API's state.
func BenchmarkReconcileLatency(b *testing.B) {
	requireE2E(b)
	dir := b.TempDir()
	d := startDaemon(b, "dev", "-config", writeRecConfig(b, dir, "", "5s"))
	name := recName(b)
	id := d.act(b, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")

	events := subscribe(b, name)
	var base, api, extra []time.Duration
	for range b.N {
		for range reconcileRounds {
			d.act(b, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")
			events.drain()
			t0 := time.Now()
			out, err := exec.Command("virsh", "-c", testlibvirt.QEMUURI, "destroy", name).CombinedOutput()
			if err != nil {
				b.Fatalf("virsh destroy: %v: %s", err, out)
			}
			polling := time.Now()
			_, seen := d.waitVM(b, id, 10*time.Second, "stopped by virsh destroy", stateIs("STOPPED"))
			atAPI := polling.Add(seen).Sub(t0)
			ev := events.wait(b, "Stopped", 10*time.Second)
			atEvent := ev.Sub(t0)
			base = append(base, atEvent)
			api = append(api, atAPI)
			extra = append(extra, atAPI-atEvent)
		}
	}
	b.StopTimer()
	d.act(b, http.StatusOK, "DELETE", "/api/vms/"+id, "")
	d.stop(b)

	p := func(xs []time.Duration, q float64) time.Duration {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[min(len(s)-1, int(q*float64(len(s))))]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(p(api, 0.5)), "api-p50-ms")
	b.ReportMetric(ms(p(api, 0.99)), "api-p99-ms")
	b.ReportMetric(ms(p(base, 0.5)), "event-p50-ms")
	b.ReportMetric(ms(p(base, 0.99)), "event-p99-ms")
	b.ReportMetric(ms(p(api, 0.5))/ms(p(base, 0.5)), "ratio-p50")
	b.ReportMetric(ms(p(api, 0.99))/ms(p(base, 0.99)), "ratio-p99")
	b.ReportMetric(ms(p(extra, 0.5)), "reconcile-p50-ms")
	b.ReportMetric(ms(p(extra, 0.99)), "reconcile-p99-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d rounds: from virsh destroy to GET /api/vms/{id} STOPPED p50 %s p99 %s; to the direct subscriber's event p50 %s p99 %s (ratio p50 %.3f, p99 %.3f); event to API p50 %s p99 %s",
		len(api), p(api, 0.5), p(api, 0.99), p(base, 0.5), p(base, 0.99),
		ms(p(api, 0.5))/ms(p(base, 0.5)), ms(p(api, 0.99))/ms(p(base, 0.99)), p(extra, 0.5), p(extra, 0.99))
}

// eventLog is a `virsh event --loop` subscribed to one domain's lifecycle
// events, each line stamped when it was read.
type eventLog struct {
	lines chan stamped
}

type stamped struct {
	text string
	at   time.Time
}

func subscribe(tb testing.TB, domain string) *eventLog {
	tb.Helper()
	cmd := exec.Command("virsh", "-c", testlibvirt.QEMUURI, "event", "--domain", domain, "--event", "lifecycle", "--loop")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("virsh event: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	l := &eventLog{lines: make(chan stamped, 1024)}
	go func() {
		r := bufio.NewReader(out)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				l.lines <- stamped{text: strings.TrimSpace(s), at: time.Now()}
			}
			if err != nil {
				close(l.lines)
				return
			}
		}
	}()
	return l
}

// drain forgets the lines read so far.
func (l *eventLog) drain() {
	for {
		select {
		case <-l.lines:
		default:
			return
		}
	}
}

// wait returns when the first line containing text was read.
func (l *eventLog) wait(tb testing.TB, text string, within time.Duration) time.Time {
	tb.Helper()
	timeout := time.After(within)
	for {
		select {
		case s, ok := <-l.lines:
			if !ok {
				tb.Fatal("virsh event ended")
			}
			if strings.Contains(s.text, text) {
				return s.at
			}
		case <-timeout:
			tb.Fatal(fmt.Sprintf("no %q event within %s", text, within))
		}
	}
}
