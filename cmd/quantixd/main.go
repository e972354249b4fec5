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
            configured otherwise) and an agent driving this host's hypervisor
            through the backend plugin, all in one process; needs no config
            file
  server    run the control plane (REST API, database and the port agents
            connect to) without an agent: actions on VMs answer 503 until an
            agent serves their node
  agent     run the node agent of this host: it drives the hypervisor through
            the backend plugin and connects to the servers of agent.servers
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
	case "agent":
		return runDaemon(modeAgent, args[1:], stdout, stderr)
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
