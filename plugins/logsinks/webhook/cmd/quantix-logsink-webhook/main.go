// Command quantix-logsink-webhook is Quantix's webhook log sink plugin:
// batched, signed JSON POSTs with retries. The daemon starts it through
// go-plugin; started by hand it says it is a plugin and exits non-zero.
package main

import (
	"github.com/quantixvm/quantix/plugins/logsinks/webhook"
	"github.com/quantixvm/quantix/sdk/logsink"
)

func main() {
	logsink.Serve(webhook.New())
}
