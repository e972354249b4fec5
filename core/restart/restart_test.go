package restart

import (
	"testing"
	"time"
)

// TestDelays: the wait doubles with each failure up to MaxDelay.
func TestDelays(t *testing.T) {
	o := Options{BaseDelay: time.Second, MaxDelay: time.Minute}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := o.Delay(i); got != w {
			t.Errorf("delay(%d) = %s, want %s", i, got, w)
		}
	}
}
