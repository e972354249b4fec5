// Command quantixd is the Quantix daemon.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/quantixvm/quantix/core/version"
)

const usage = `usage: quantixd <command> [flags]

commands:
  dev       run the control plane, its database (embedded SQLite unless
            configured otherwise) and a local agent driving this host's
            hypervisor through the backend plugin, all in one process;
            needs no config file
  server    run the control plane (REST API and database) without a local
            agent: actions on VMs answer 503 until an agent serves their node
  version   print the version and exit

Run "quantixd <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "dev":
		return runDaemon(modeDev, args[1:], stdout, stderr)
	case "server":
		return runDaemon(modeServer, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version.String("quantixd"))
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "quantixd: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
