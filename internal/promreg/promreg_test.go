package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
}

// TestRegisterAll: all are registered, or none when one is refused.
func TestRegisterAll(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterAll(reg, counter("a_total"), counter("b_total")); err != nil {
		t.Fatal(err)
	}
	c := counter("c_total")
	if err := RegisterAll(reg, c, counter("a_total")); err == nil {
		t.Fatal("a second a_total was registered")
	}
	if !reg.Unregister(counter("a_total")) || !reg.Unregister(counter("b_total")) {
		t.Error("the first collectors are not registered")
	}
	if reg.Unregister(c) {
		t.Error("c_total stayed registered after the set was refused")
	}
}
