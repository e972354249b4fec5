// Command quantix-logsink-syslog is Quantix's syslog log sink plugin: RFC
// 5424 messages over udp, tcp or a unix datagram socket. The daemon starts
// it through go-plugin; started by hand it says it is a plugin and exits
// non-zero.
package main

import (
	"github.com/quantixvm/quantix/plugins/logsinks/syslog"
	"github.com/quantixvm/quantix/sdk/logsink"
)

func main() {
	logsink.Serve(syslog.New())
}
