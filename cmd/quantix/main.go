// Command quantix is the Quantix command-line client.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/quantixvm/quantix/core/version"
)

const usage = `usage: quantix <command> [flags]

commands:
  version   print the version and exit
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
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version.String("quantix"))
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "quantix: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
