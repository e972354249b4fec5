// Command quantix-backend-libvirt is Quantix's libvirt backend plugin. The
// node agent starts it through go-plugin; started by hand it says it is a
// plugin and exits non-zero.
package main

import (
	"github.com/quantixvm/quantix/plugins/libvirt"
	"github.com/quantixvm/quantix/sdk/backend"
)

func main() {
	backend.Serve(libvirt.New())
}
