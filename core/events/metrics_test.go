package events

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBrokerMetrics: the subscribers now and the events dropped for the
// slow ones.
func TestBrokerMetrics(t *testing.T) {
	b := NewBroker(BrokerOptions{SubscriberBuffer: 4})
	want := func(subs, dropped string) {
		t.Helper()
		exp := `
# HELP quantix_event_stream_dropped_total Events not sent to a subscriber that read too slowly; it was sent a gap marker instead and resumes from the store.
# TYPE quantix_event_stream_dropped_total counter
quantix_event_stream_dropped_total ` + dropped + `
# HELP quantix_event_stream_subscribers Clients following the event stream now (GET /api/events and /api/vms/{id}/events).
# TYPE quantix_event_stream_subscribers gauge
quantix_event_stream_subscribers ` + subs + `
`
		if err := testutil.CollectAndCompare(b.Collector(), strings.NewReader(exp)); err != nil {
			t.Error(err)
		}
	}
	want("0", "0")
	slow, err := b.Subscribe(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Subscribe(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want("2", "0")
	for id := int64(1); id <= 10; id++ {
		b.PublishVM(vmEv(id))
	}
	// Each of the two took 4 and lost 6.
	want("2", "12")
	other.Close()
	want("1", "12")
	b.PublishVM(vmEv(11))
	want("1", "13")
	slow.Close()
	want("0", "13")
	problems, err := testutil.CollectAndLint(b.Collector())
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
