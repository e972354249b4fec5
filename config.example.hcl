# Quantix configuration: every option, with its default.
# `quantixd dev` needs no file at all. Any single attribute can be overridden
# by an environment variable QUANTIX_<UPPER_PATH> (e.g. QUANTIX_SERVER_HTTP_ADDR
# for server.http_addr, QUANTIX_AGENT_SERVERS="a:8081,b:8081" for a list), and
# flags override both. Durations are written as "5s", "2m30s".

# Where the embedded database and other state live.
data_dir = "./quantix-data"

# Daemon log level: trace, debug, info, warn or error.
log_level = "info"

# Daemon log format: text or json.
log_format = "text"

# Where plugin binaries (quantix-backend-<name>, quantix-logsink-<name>) are
# found. Default: the plugins directory next to the quantixd binary.
plugin_dir = "./bin/plugins"

server {
  # This server's name in the cluster (`quantix cluster status`). Default:
  # the hostname. Letters, digits, '.', '_' and '-'.
  name = "server1"

  # Where the REST API listens.
  http_addr = "127.0.0.1:8080"

  # Where node agents connect.
  rpc_addr = "127.0.0.1:8081"

  # The host:port other servers and agents reach this server's agent port
  # at, recorded in the database for the other servers of a cluster.
  # Default: rpc_addr, a wildcard host (0.0.0.0, ::) replaced by the
  # hostname.
  advertise_addr = ""

  # Several servers may share one PostgreSQL database (docs/cluster.md); one
  # of them leads and runs the cluster-wide duties (node liveness, the stuck
  # state scan, restart policies, log retention). SQLite is single-server.
  cluster {
    # How long the leader's lease lasts without renewal: when the leader dies
    # another server takes over within about this long. 1s..5m.
    lease_ttl = "6s"

    # How often the leader renews the lease and every server writes its
    # heartbeat; at most half of lease_ttl. A leader that cannot renew stops
    # leading lease_ttl - renew_interval after its last renewal began, and
    # answers writes with 503 until it reaches the database again.
    renew_interval = "1s"
  }

  # The agent port (rpc_addr) speaks TLS only. Its certificate is issued by
  # the cluster's agent CA, generated under <data_dir>/pki/agents/ on first
  # start and kept (the server logs its SHA-256 fingerprint); with
  # cluster_secret (below) it is kept in the database instead, shared by
  # every server. A new agent
  # enrolls with a join token: `quantix node token create` prints one that
  # also carries that fingerprint, so the agent pins the server on first
  # contact. It gets a client certificate for its node name and connects
  # with it from then on.
  #
  # A static join token, besides those: it never expires nor runs out (for
  # automation). Agents using it need agent.ca_fingerprint or agent.ca_cert.
  # Empty: none.
  join_token = ""

  # How long a node's client certificate is valid; agents renew theirs over
  # their session once two thirds of it have passed. At least 1s.
  agent_cert_ttl = "720h"

  # The cluster secret, the same on every server of a cluster (several
  # servers on one PostgreSQL database): with it the cluster's CAs (the
  # agent CA and the API's CA) are kept in the database, their private keys
  # encrypted with a key derived from this secret, so that a server joins
  # with the database connection and this secret alone. The first server
  # makes them, or imports those under its <data_dir>/pki. A server with
  # another secret refuses to start. At least 32 characters; generate one
  # with `openssl rand -base64 32`. Keep it out of this file: set
  # QUANTIX_SERVER_CLUSTER_SECRET, or cluster_secret_file to a file (mode
  # 0600) holding it. Never logged. Empty: the CAs stay under data_dir and
  # the server runs alone.
  cluster_secret      = ""
  cluster_secret_file = ""

  database {
    # sqlite (embedded, the default) or postgres.
    driver = "sqlite"

    # Connection string. sqlite: a file path, default <data_dir>/quantix.db.
    # postgres: e.g. "host=127.0.0.1 user=quantix dbname=quantix sslmode=disable".
    dsn = ""
  }

  reconcile {
    # A VM in a transitional state (STARTING, STOPPING, ...) longer than this
    # is re-checked against its host and corrected; the placeholder of a
    # create that no request runs any more (the server stopped during it)
    # becomes the VM the host made for it, or is removed when the host has
    # none (as reset_state does).
    stuck_timeout = "5m"
  }

  overcommit {
    # How much more than a node reports (its CPUs and memory) its VMs may ask
    # for. One VM may have at most CPUs × cpu vCPUs and memory × memory MiB
    # (checked at create, at an edit of vcpus or memory_mib, and at start,
    # 422 naming the field); at start the VMs already running, paused or on
    # their way on the node and the one starting together may not pass those
    # bounds either (409: stop another VM first). vCPUs are time-shared, so 4
    # per CPU is a usual start; memory beyond 1.0 relies on ballooning and
    # page sharing. cpu: 0.1..64, memory: 0.1..16. Disks are at most 64 TiB
    # each, whatever these say.
    cpu    = 4.0
    memory = 1.5
  }

  logs {
    # Every log entry (UI actions, audit, the daemon's own log, QEMU lines) is
    # first written to a spool under <data_dir>/logs/spool, then delivered to
    # the built-in store and every log_sink. A sink that is down delays its
    # entries; past these bounds the oldest are discarded, logged and counted
    # (quantix_logs_dropped_total{reason="spool_max_bytes"|"spool_max_age"}).
    spool_max_mib = 1024
    spool_max_age = "168h"

    # The built-in store behind GET /api/logs keeps entries this long, and at
    # most this many.
    retention_max_age     = "720h"
    retention_max_entries = 10000000

    # POST /api/logs/ui accepts at most ui_rate entries per second and
    # ui_burst at once from each session (entries naming no session count
    # against their client address); over it, or over the client address's
    # bound below, it answers 429 with Retry-After. The client address is the
    # connection's peer: behind a proxy, its clients share the proxy's bounds.
    ui_rate  = 100
    ui_burst = 2000

    # ... and at most ui_address_rate entries per second per client address
    # over all its sessions, ui_address_burst at once. 0 (the default) is 5
    # times ui_rate and ui_burst; otherwise at least ui_rate and ui_burst.
    ui_address_rate  = 0
    ui_address_burst = 0
  }

  # Resource statistics of VMs and nodes (docs/stats.md): the samples agents
  # send every agent.stats_interval are kept in memory for the window, at full
  # resolution, by the server holding the node's agent; one averaged point per
  # VM per history_step goes to the database, kept for the retention, the same
  # on every server of a cluster. Memory: about 64 bytes per VM per sample in
  # the window (250 VMs at 10s for 15 minutes: about 1.4 MiB).
  stats {
    # At least 1m.
    window = "15m"
    # At least 10s and at most the window.
    history_step = "1m"
    # At least the history step.
    retention = "168h"
    # /metrics exports per-VM series for at most this many VMs, the busiest
    # by CPU; the others are counted in quantix_vm_stats_series_dropped.
    max_series_vms = 1000
  }

  tls {
    # How the REST API is served:
    #   "auto" (default): TLS, except on a loopback http_addr (127.0.0.1, ::1,
    #          localhost), where it serves plain HTTP, as `quantixd dev` does;
    #   "on":  TLS on every address, loopback ones included;
    #   "off": plain HTTP, refused unless http_addr is a loopback address.
    # Clients on another host must never see the API in plain HTTP.
    mode = "auto"

    # The certificate (PEM, its chain may follow it) and its private key the
    # API serves. Both or neither; setting them turns TLS on. Without them the
    # server generates a CA under <data_dir>/pki/api (ca.crt, ca.key) on first
    # start and a certificate it issues for http_addr, the hostname, localhost,
    # 127.0.0.1 and ::1 (server.crt, server.key), keeps them across restarts,
    # and logs the CA's SHA-256 fingerprint and the path of ca.crt: hand that
    # file to clients (quantix -ca-cert, QUANTIX_CACERT, curl --cacert), or let
    # `quantix login` show the fingerprint and ask before trusting it. With
    # server.cluster_secret that CA is the cluster's, kept in the database and
    # the same on every server (its ca.crt is still written under pki/api).
    cert_file = ""
    key_file  = ""
  }

  ui {
    # The web console, at http://<http_addr>/ (every path outside /api and
    # /metrics). It is built into quantixd by `make build`; a quantixd built
    # with plain `go build` serves a page saying how to build it instead.
    # false serves the API alone.
    enabled = true
  }
}

agent {
  # This host's name in the inventory. Default: the hostname.
  node_name = "node-1"

  # Control plane RPC addresses the agent dials.
  servers = ["127.0.0.1:8081"]

  # The join token the agent enrolls with when it has no certificate yet
  # (its key, certificate and the cluster's CA are kept under
  # <data_dir>/agent, mode 0600; once there the token is not used again): a
  # token of `quantix node token create`, or the server's server.join_token.
  join_token = ""

  # How the agent knows the server when it enrolls with the static
  # server.join_token (a token of `quantix node token create` carries it):
  # a copy of the server's <data_dir>/pki/agents/ca.crt, or that CA's
  # SHA-256 fingerprint as the server logs it. One is enough.
  ca_cert        = ""
  ca_fingerprint = ""

  # The backend plugin driving this host.
  backend = "libvirt"

  # How often the agent sends a heartbeat carrying its state hash.
  heartbeat_interval = "5s"

  # How often the agent lists every VM as a safety net besides events.
  resync_interval = "30s"

  # Random delay in [0, sync_jitter) before the full sync after connecting,
  # counted from the start of the connection attempt.
  sync_jitter = "5s"

  # Follow the QEMU log of every running VM and send its lines to the control
  # plane's log pipeline (source "qemu", GET /api/logs and log sinks). What
  # was sent is remembered under <data_dir>/agent, so a restarted agent
  # carries on where it stopped.
  qemu_logs = true

  # How long the QEMU log of a VM that stopped is still followed once it has
  # gone quiet: QEMU and libvirt write their last lines (the signal that
  # ended QEMU, "shutting down") after the VM stopped. At least 100ms.
  qemu_log_linger = "5s"

  # Sample the resource counters of every VM (CPU time, memory, disk and
  # network) when the backend offers them, and send them to the server. One
  # backend call for all VMs per interval. At least 1s.
  stats          = true
  stats_interval = "10s"

  # Where `quantixd agent` serves its own Prometheus metrics on GET /metrics
  # (the backend plugin's launches, relaunches and call durations by
  # operation; Go runtime and process), in plain HTTP without
  # authentication: bind it to loopback or a management network. Empty, the
  # default, serves none. `quantixd dev` ignores it: its agent's metrics are
  # on the server's /metrics. Environment: QUANTIX_AGENT_METRICS_ADDR.
  # metrics_addr = "127.0.0.1:9464"
}

# A plugin is loaded only when the configuration names it (agent.backend,
# log_sink). Its block is optional; its config block is passed to the plugin,
# which checks it and names any attribute it does not accept.
plugin "libvirt" {
  # Explicit binary path. Default: <plugin_dir>/quantix-backend-libvirt.
  # path = "/usr/lib/quantix/quantix-backend-libvirt"

  # Optional "sha256:<hex>" the binary must match before it is started.
  # checksum = "sha256:..."

  config {
    # libvirt connection URI.
    uri = "qemu:///system"

    # Directory of the libvirt storage pool holding VM disks; created if missing.
    # Each disk is a volume named <vm>+<disk>.qcow2 (names take no "+", so no
    # two disks share one).
    image_dir = "/var/lib/quantix/images"

    # Where QEMU writes each VM's log, <name>.log.
    qemu_log_dir = "/var/log/libvirt/qemu"

    # auto (kvm when the host can, else qemu), kvm or qemu.
    domain_type = "auto"
  }
}

# Log sinks ship log entries to a plugin quantix-logsink-<name>. sources picks
# which: ui, audit, system, qemu. Entries reach a sink at least once, in
# batches, retried with backoff while it is down. plugins/logsinks/README.md
# lists each sink's config attributes. A plugin "<name>" block of the same
# name sets the sink binary's path and checksum, as for a backend; the sink's
# settings go in the log_sink config block.
#
# A plugin binary is refused when anyone but its owner (root or the user
# quantixd runs as) may write it or its directory: run "chmod go-w" on both.
# plugin "file" {
#   path     = "/usr/lib/quantix/quantix-logsink-file"
#   checksum = "sha256:..."
#   # no config block here: a sink's settings go in its log_sink block
# }
# log_sink "file" {
#   sources = ["ui", "audit"]
#   config {
#     path = "/var/log/quantix/actions.log"
#   }
# }
