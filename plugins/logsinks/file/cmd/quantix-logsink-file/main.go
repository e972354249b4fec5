// Command quantix-logsink-file is Quantix's file log sink plugin: JSON lines
// with size-based rotation. The daemon starts it through go-plugin; started
// by hand it says it is a plugin and exits non-zero.
package main

import (
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
)

func main() {
	logsink.Serve(file.New())
}
