// Command quantix is the Quantix command-line client: a client of the REST
// API of quantixd (never of its database).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/quantixvm/quantix/client"
	"github.com/quantixvm/quantix/core/version"
)

// Environment variables the global flags default to.
const (
	envAddress = "QUANTIX_ADDR"
	envToken   = "QUANTIX_TOKEN"
	envCACert  = "QUANTIX_CACERT"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the API refused, failed or could not be reached
	exitUsage = 2 // the command line is wrong
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// app is one run of the CLI: its output, the global settings and the API
// client made from them.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// term is where prompts are answered; nil is the process's stdin.
	term *terminal

	address string
	token   string
	output  string
	caCert  string

	api *client.Client
	// addr is the API's normalized base URL.
	addr string
	// tokenFrom says where the token sent comes from: "-token",
	// envToken, "saved" (the login of addr) or "" (none).
	tokenFrom string
	// caFrom says which CA certificates the client trusts: "-ca-cert",
	// envCACert, "saved" (trusted at login for addr) or "" (the system's).
	caFrom, caFile string
	// loginExpired is set when the saved login of addr has expired.
	loginExpired *time.Time
	// following is set by the commands that follow a stream (-f): for
	// them, Ctrl-C is the normal end.
	following bool
}

// command is a command of the CLI: a group of subcommands, or a leaf that
// setup turns into a runner once its flags are registered.
type command struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	help    string
	// complete says what positional arguments complete to in the shell:
	// "vm", "node", "user", "token" (their names or ids), "file", a
	// space-separated list of words, or nothing.
	complete string
	subs     []*command
	setup    func(a *app, fs *flag.FlagSet) runner
}

// runner runs a leaf command with its positional arguments.
type runner func(ctx context.Context, args []string) error

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// commands is the command tree.
func commands() []*command {
	return []*command{vmCommand(), nodeCommand(), clusterCommand(), logsCommand(), loginCommand(), logoutCommand(), userCommand(), tokenCommand(),
		configCommand(), versionCommand(), completionCommand()}
}

const globalHelp = `global flags (accepted before or after the command):
  -address URL    the quantixd API (default $QUANTIX_ADDR, else http://127.0.0.1:8080)
  -token TOKEN    sent as a bearer token (default $QUANTIX_TOKEN, else the token
                  'quantix login' saved for the address)
  -ca-cert FILE   PEM CA certificate to trust for an https address, instead of the
                  system's (default $QUANTIX_CACERT, else the CA trusted at login)
  -output FORMAT  table or json (default table); json prints the API's objects
`

func rootUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: quantix [global flags] <command> [flags] [arguments]\n\n")
	fmt.Fprintf(w, "quantix drives a Quantix control plane through its REST API.\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s  %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  help        show the help of a command: quantix help vm create\n\n%s", globalHelp)
	fmt.Fprintf(w, "\nexit codes: 0 success, 1 the API refused or failed the request or could not be\nreached, 2 bad usage. Run 'quantix <command> -h' for the help of a command.\n")
}

// globalFlags registers the global flags on fs.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.address, "address", a.address, "the quantixd API `URL` (default $"+envAddress+", else "+client.DefaultAddress+")")
	fs.StringVar(&a.token, "token", a.token, "bearer `token` sent to the API (default $"+envToken+", else the saved login)")
	fs.StringVar(&a.caCert, "ca-cert", a.caCert, "PEM CA certificate `file` to trust for https (default $"+envCACert+", else the CA trusted at login)")
	fs.StringVar(&a.output, "output", a.output, "output `format`: table or json (default table)")
}

func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.run(args)
}

func (a *app) run(args []string) int {
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(a.stdout, version.String("quantix"))
		return exitOK
	}
	fs := flag.NewFlagSet("quantix", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {}
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			rootUsage(a.stdout)
			return exitOK
		}
		fmt.Fprintln(a.stderr, "Run 'quantix -h' for usage.")
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		rootUsage(a.stderr)
		return exitUsage
	}
	if rest[0] == "help" {
		return a.helpCommand(rest[1:])
	}
	path, cmd, rest, err := resolve(rest)
	if err != nil {
		fmt.Fprintf(a.stderr, "quantix: %v\n", err)
		return exitUsage
	}
	if cmd.setup == nil {
		if len(rest) > 0 && isHelpFlag(rest[0]) {
			groupUsage(a.stdout, path, cmd)
			return exitOK
		}
		if len(rest) > 0 {
			fmt.Fprintf(a.stderr, "quantix %s: unknown command %q\n", path, rest[0])
		}
		groupUsage(a.stderr, path, cmd)
		return exitUsage
	}
	return a.runLeaf(path, cmd, rest)
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// resolve finds the command args name: a group stops at its first
// argument that is not one of its subcommands.
func resolve(args []string) (path string, cmd *command, rest []string, err error) {
	cmds := commands()
	for _, c := range cmds {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		return "", nil, nil, fmt.Errorf("unknown command %q; run 'quantix -h' for the list", args[0])
	}
	path, rest = cmd.name, args[1:]
	for cmd.subs != nil && len(rest) > 0 {
		var next *command
		for _, s := range cmd.subs {
			if s.name == rest[0] {
				next = s
			}
		}
		if next == nil {
			break
		}
		cmd, path, rest = next, path+" "+next.name, rest[1:]
	}
	return path, cmd, rest, nil
}

func groupUsage(w io.Writer, path string, cmd *command) {
	fmt.Fprintf(w, "usage: quantix %s <command> [flags] [arguments]\n\n", path)
	if cmd.help != "" {
		fmt.Fprintf(w, "%s\n", cmd.help)
	}
	fmt.Fprintf(w, "commands:\n")
	for _, s := range cmd.subs {
		fmt.Fprintf(w, "  %-12s  %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun 'quantix %s <command> -h' for the help of a command.\n", path)
}

// leafUsage is the synopsis of a leaf command.
func leafUsage(path string, cmd *command) string {
	s := "usage: quantix " + path
	if cmd.args != "" {
		s += " " + cmd.args
	}
	return s + " [flags]"
}

// commandFlags returns a flag set with only the command's own flags, for
// help texts and shell completion.
func commandFlags(path string, cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("quantix "+path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd.setup(&app{getenv: func(string) string { return "" }}, fs)
	return fs
}

func leafHelp(w io.Writer, path string, cmd *command) {
	fmt.Fprintf(w, "%s\n\n%s\n", leafUsage(path, cmd), strings.TrimRight(cmd.help, "\n"))
	fs := commandFlags(path, cmd)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\n%s", globalHelp)
}

// helpCommand: quantix help [command...].
func (a *app) helpCommand(args []string) int {
	if len(args) == 0 {
		rootUsage(a.stdout)
		return exitOK
	}
	path, cmd, rest, err := resolve(args)
	if err != nil || len(rest) > 0 {
		fmt.Fprintf(a.stderr, "quantix help: no command %q; run 'quantix -h' for the list\n", strings.Join(args, " "))
		return exitUsage
	}
	if cmd.setup == nil {
		groupUsage(a.stdout, path, cmd)
	} else {
		leafHelp(a.stdout, path, cmd)
	}
	return exitOK
}

// runLeaf parses a leaf command's flags (its own and the global ones,
// anywhere among its arguments) and runs it.
func (a *app) runLeaf(path string, cmd *command, args []string) int {
	fs := flag.NewFlagSet("quantix "+path, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {}
	runFn := cmd.setup(a, fs)
	a.globalFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			leafHelp(a.stdout, path, cmd)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "%s\nRun 'quantix %s -h' for help.\n", leafUsage(path, cmd), path)
		return exitUsage
	}
	if err := a.configure(); err != nil {
		fmt.Fprintf(a.stderr, "quantix: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = runFn(ctx, pos)
	return a.exitCode(path, cmd, ctx, err)
}

// exitCode reports err and returns the exit code it means.
func (a *app) exitCode(path string, cmd *command, ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "quantix %s: %s\n%s\nRun 'quantix %s -h' for help.\n", path, ue.msg, leafUsage(path, cmd), path)
		return exitUsage
	}
	if ctx.Err() != nil {
		if a.following {
			return exitOK
		}
		fmt.Fprintln(a.stderr, "quantix: interrupted")
		return exitError
	}
	fmt.Fprintf(a.stderr, "quantix: %v\n", err)
	if hint := a.hint(err); hint != "" {
		fmt.Fprintln(a.stderr, hint)
	}
	return exitError
}

// parseInterspersed parses flags that come before, between or after the
// positional arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// configure settles the global settings: flags, then the environment,
// then the defaults; and makes the API client.
func (a *app) configure() error {
	switch a.output {
	case "":
		a.output = "table"
	case "table", "json":
	default:
		return fmt.Errorf("-output %q: must be table or json", a.output)
	}
	addr := a.address
	if addr == "" {
		addr = a.getenv(envAddress)
	}
	if addr == "" {
		addr = client.DefaultAddress
	}
	norm, err := client.NormalizeAddress(addr)
	if err != nil {
		return fmt.Errorf("-address: %w", err)
	}
	a.addr = norm
	token := a.token
	a.tokenFrom = "-token"
	if token == "" {
		token, a.tokenFrom = a.getenv(envToken), envToken
	}
	if token == "" {
		a.tokenFrom = ""
		if st, err := userStore(a.getenv); err == nil {
			l, ok, err := st.login(norm)
			if err != nil {
				return err
			}
			switch {
			case ok && l.expired(time.Now()):
				a.loginExpired = l.ExpiresAt
			case ok:
				token, a.tokenFrom = l.Token, "saved"
			}
		}
	}
	tlsCfg, err := a.tlsConfig(norm)
	if err != nil {
		return err
	}
	a.api = a.newClient(norm, token, tlsCfg)
	return nil
}

// newClient makes the API client of address.
func (a *app) newClient(address, token string, tlsCfg *tls.Config) *client.Client {
	c := &client.Client{Address: address, Token: token}
	c.HTTPClient = &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
	c.UserAgent = "quantix-cli/" + version.Version
	return c
}

// tlsConfig is the TLS configuration of the client of address: the CA of
// -ca-cert or QUANTIX_CACERT alone, else the system's CAs and the CA
// trusted at login for address.
func (a *app) tlsConfig(address string) (*tls.Config, error) {
	a.caFrom, a.caFile = "-ca-cert", a.caCert
	if a.caFile == "" {
		a.caFrom, a.caFile = envCACert, a.getenv(envCACert)
	}
	if a.caFile != "" {
		pool, err := client.LoadCAFile(a.caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.caFrom, err)
		}
		return &tls.Config{RootCAs: pool}, nil
	}
	a.caFrom = ""
	st, err := userStore(a.getenv)
	if err != nil {
		return nil, nil
	}
	path, err := st.savedCA(address)
	if err != nil || path == "" {
		return nil, err
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CA trusted at login: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate: remove it and run 'quantix login' again", path)
	}
	a.caFrom, a.caFile = "saved", path
	return &tls.Config{RootCAs: pool}, nil
}

// hint says how to fix what err says went wrong, or "".
func (a *app) hint(err error) string {
	var ae *client.APIError
	switch {
	case client.IsUnknownAuthority(err):
		if a.caFrom == "-ca-cert" || a.caFrom == envCACert {
			return fmt.Sprintf("The server's certificate is not signed by the CA of %s (%s): give the CA that quantixd logged at start (ca_file, under <data_dir>/pki/api/ca.crt) with -ca-cert FILE or %s.", a.caFrom, a.caFile, envCACert)
		}
		return fmt.Sprintf("The server's certificate is signed by a CA this client does not trust. Give the CA certificate quantixd logged at start (ca_file, <data_dir>/pki/api/ca.crt) with -ca-cert FILE or %s=FILE, or run 'quantix login -address %s' to check the CA's fingerprint and trust it.", envCACert, a.addr)
	case client.IsHostnameMismatch(err):
		return fmt.Sprintf("The server's certificate does not name the host of %s: use an address it covers (quantixd's certificate names its http_addr, its hostname, localhost, 127.0.0.1 and ::1), or give quantixd a certificate for this name (server.tls.cert_file).", a.addr)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && strings.Contains(ae.Message, "HTTPS server"):
		return fmt.Sprintf("The server speaks TLS: use an https:// address (-address or %s).", envAddress)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized:
		if a.loginExpired != nil {
			return fmt.Sprintf("The saved login for %s expired on %s: run 'quantix login' again.", a.addr, stamp(*a.loginExpired))
		}
		switch a.tokenFrom {
		case "saved":
			return fmt.Sprintf("The token saved at login for %s was refused (revoked or expired?): run 'quantix login' again.", a.addr)
		case "":
			return fmt.Sprintf("Log in with 'quantix login', or give an API token with -token or %s.", envToken)
		}
	}
	return ""
}

// jsonOutput reports whether -output json was asked for.
func (a *app) jsonOutput() bool { return a.output == "json" }

// exactArgs checks the number of positional arguments.
func exactArgs(args []string, names ...string) error {
	if len(args) < len(names) {
		return usagef("missing %s", strings.Join(names[len(args):], " "))
	}
	if len(args) > len(names) {
		return usagef("unexpected argument %q", args[len(names)])
	}
	return nil
}

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version of quantix and of the server",
		help: `Prints the version of this program, then asks the server at -address for its
version (GET /api/health). With -client, only this program's version is printed
and no server is needed. With -output json, prints {"client": ..., "server": ...}
where server is the API's health object.`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			clientOnly := fs.Bool("client", false, "print only the client's version")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				local := version.String("quantix")
				if *clientOnly {
					if a.jsonOutput() {
						return printJSON(a.stdout, map[string]any{"client": local})
					}
					fmt.Fprintln(a.stdout, local)
					return nil
				}
				h, err := a.api.Health(ctx)
				if a.jsonOutput() {
					if err != nil {
						return err
					}
					return printJSON(a.stdout, map[string]any{"client": local, "server": h})
				}
				fmt.Fprintln(a.stdout, local)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "server: %s (%s, %s)\n", h.Version, a.api.Address, h.Status)
				return nil
			}
		},
	}
}
