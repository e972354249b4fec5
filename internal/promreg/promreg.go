// Package promreg registers a component's Prometheus collectors as one.
package promreg

import "github.com/prometheus/client_golang/prometheus"

// RegisterAll registers every collector with reg, or none: when one is
// refused (a name taken already), those registered before it are
// unregistered again and its error is returned.
func RegisterAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
