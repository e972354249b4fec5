package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/quantixvm/quantix/core/config"
)

// mode is what a daemon command runs.
type mode string

const (
	modeDev    mode = "dev"
	modeServer mode = "server"
	modeAgent  mode = "agent"
)

// setting binds a flag to the config attribute it sets.
type setting struct {
	flag, path, help string
	modes            []mode
}

// settings lists the flags that override single attributes of the
// configuration; a flag that is given wins over QUANTIX_* variables, which
// win over the file.
var settings = []setting{
	{"data-dir", "data_dir", "directory of the embedded database, the agent CA (pki/agents) and other state; agent: of the node's key and certificate (agent/) (default ./quantix-data)", []mode{modeDev, modeServer, modeAgent}},
	{"http-addr", "server.http_addr", "host:port the REST API listens on (default 127.0.0.1:8080)", []mode{modeDev, modeServer}},
	{"rpc-addr", "server.rpc_addr", "host:port agents connect to, over TLS with client certificates (default 127.0.0.1:8081)", []mode{modeDev, modeServer}},
	{"server-name", "server.name", "this server's name in the cluster, shown by `quantix cluster status` (default: the hostname)", []mode{modeDev, modeServer}},
	{"advertise-addr", "server.advertise_addr", "host:port other servers and agents reach this server's agent port at (default: -rpc-addr, a wildcard host replaced by the hostname)", []mode{modeDev, modeServer}},
	{"db-driver", "server.database.driver", "inventory database: sqlite or postgres (default sqlite)", []mode{modeDev, modeServer}},
	{"db-dsn", "server.database.dsn", "database connection string; sqlite: a file path (default <data-dir>/quantix.db)", []mode{modeDev, modeServer}},
	{"tls-mode", "server.tls.mode", "REST API transport: auto (TLS unless -http-addr is loopback), on, or off (plain HTTP, loopback only) (default auto)", []mode{modeDev, modeServer}},
	{"tls-cert-file", "server.tls.cert_file", "PEM certificate the REST API serves, with -tls-key-file (default: one issued by a CA generated under <data-dir>/pki/api)", []mode{modeDev, modeServer}},
	{"tls-key-file", "server.tls.key_file", "PEM private key of -tls-cert-file", []mode{modeDev, modeServer}},
	{"log-level", "log_level", "trace, debug, info, warn or error (default info)", []mode{modeDev, modeServer, modeAgent}},
	{"log-format", "log_format", "text or json (default text)", []mode{modeDev, modeServer, modeAgent}},
	{"plugin-dir", "plugin_dir", "directory of plugin binaries (default: plugins next to the quantixd binary)", []mode{modeDev, modeServer, modeAgent}},
	{"node-name", "agent.node_name", "this host's name in the inventory (default: the hostname)", []mode{modeDev, modeAgent}},
	{"backend", "agent.backend", "backend plugin driving this host (default libvirt)", []mode{modeDev, modeAgent}},
	{"servers", "agent.servers", "comma-separated host:port addresses of control plane servers, tried in turn (default 127.0.0.1:8081)", []mode{modeAgent}},
	{"join-token", "agent.join_token", "join token to enroll with when this host has no certificate yet (from `quantix node token create`, or server.join_token); QUANTIX_AGENT_JOIN_TOKEN keeps it out of the process list", []mode{modeAgent}},
	{"ca-cert", "agent.ca_cert", "PEM file of the cluster's agent CA (the server's <data_dir>/pki/agents/ca.crt), to enroll with server.join_token", []mode{modeAgent}},
	{"ca-fingerprint", "agent.ca_fingerprint", "SHA-256 fingerprint of the cluster's agent CA, as the server logs it, to enroll with server.join_token", []mode{modeAgent}},
}

// errHelp: the user asked for the flags; they were printed.
var errHelp = errors.New("help requested")

// loadConfig parses a daemon command's flags and returns the configuration:
// defaults, then the file of -config, then QUANTIX_* variables, then flags.
func loadConfig(m mode, args []string, stderr io.Writer) (*config.Config, error) {
	fs := flag.NewFlagSet("quantixd "+string(m), flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "HCL configuration file (optional; see config.example.hcl)")
	values := map[string]*string{}
	for _, s := range settings {
		for _, sm := range s.modes {
			if sm == m {
				values[s.flag] = fs.String(s.flag, "", s.help)
			}
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: quantixd %s [flags]\n\n%s\nflags:\n", m, modeHelp[m])
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEvery attribute can also be set with an environment variable QUANTIX_<UPPER_PATH>,\ne.g. QUANTIX_SERVER_HTTP_ADDR; flags win over the environment, which wins over the file.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*file, os.Environ())
	if err != nil {
		return nil, err
	}
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag == f.Name {
				if err := cfg.Set(s.path, *values[s.flag]); err != nil {
					errs = append(errs, fmt.Errorf("-%s: %w", f.Name, err))
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

var modeHelp = map[mode]string{
	modeDev: `Runs the control plane, its database and an agent in one process; the agent
dials the control plane's agent port over loopback like any other agent, over TLS,
enrolling on first start with a one-use join token the server makes for it. With no
config file it keeps a SQLite database under ./quantix-data, serves the REST API on
127.0.0.1:8080 and agents on 127.0.0.1:8081, and drives the hypervisor through the
libvirt backend plugin (quantix-backend-libvirt in the plugins directory next to
the binary) on qemu:///system.

The REST API serves plain HTTP on a loopback -http-addr (the default) and TLS on
any other address or with -tls-mode on: a certificate of -tls-cert-file and
-tls-key-file, or one issued by a CA generated under <data-dir>/pki/api on first
start and kept (the log names its ca.crt and its SHA-256 fingerprint).
`,
	modeServer: `Runs the control plane alone: the REST API, the inventory database and the agent
port (server.rpc_addr) that "quantixd agent" processes connect to. Actions on VMs
whose node has no connected agent answer 503. The agent port speaks TLS only, with
a certificate of the agent cluster CA kept under <data_dir>/pki/agents (made on
first start; its fingerprint is logged). A new agent enrolls with a join token
("quantix node token create", or the static server.join_token) and gets a client
certificate for its node; every other call needs that certificate.

The REST API serves TLS unless -http-addr is a loopback address (server.tls.mode
"auto"): the certificate of server.tls.cert_file and key_file, or one issued by a
CA the server generates under <data-dir>/pki/api on first start and keeps across
restarts; the log names the CA's certificate file and its SHA-256 fingerprint,
which clients check (quantix -ca-cert FILE, QUANTIX_CACERT, or quantix login).
Plain HTTP (server.tls.mode "off") is refused on any but a loopback address.

Several servers may share one PostgreSQL database (-db-driver postgres): each
serves the API and the agent port, and one of them, elected through a lease in the
database (server.cluster.lease_ttl, default 6s), runs the cluster-wide duties; when
it dies another takes over within about the lease ttl (docs/cluster.md). A server
that loses its database answers writes with 503. SQLite is single-server: a second
server on the same SQLite file refuses to start.
`,
	modeAgent: `Runs the node agent of this host: it launches the backend plugin agent.backend
names (from the plugins directory) and dials the control plane servers of
agent.servers in turn, over TLS. On first start it enrolls: it makes its own key,
presents agent.join_token and keeps the client certificate it gets for node
agent.node_name under <data_dir>/agent (mode 0600); it trusts the server by the CA
fingerprint the token carries (with server.join_token, by agent.ca_cert or
agent.ca_fingerprint). From then on it connects with that certificate only and
renews it before it expires. It registers this host, reports every VM change at
once, heartbeats every agent.heartbeat_interval and runs the commands the server
sends. It reconnects by itself when the server goes away.
`,
}
