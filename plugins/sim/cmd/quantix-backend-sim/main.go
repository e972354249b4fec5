// Command quantix-backend-sim is Quantix's simulated hypervisor backend
// plugin, for scale tests and benchmarks. The node agent starts it through
// go-plugin; started by hand it says it is a plugin and exits non-zero.
package main

import (
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
)

func main() {
	backend.Serve(sim.New())
}
