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
  # Where the REST API listens.
  http_addr = "127.0.0.1:8080"

  # Where node agents connect.
  rpc_addr = "127.0.0.1:8081"

  # Secret agents must present. Empty: agents on loopback only.
  join_token = ""

  database {
    # sqlite (embedded, the default) or postgres.
    driver = "sqlite"

    # Connection string. sqlite: a file path, default <data_dir>/quantix.db.
    # postgres: e.g. "host=127.0.0.1 user=quantix dbname=quantix sslmode=disable".
    dsn = ""
  }

  reconcile {
    # A VM in a transitional state (STARTING, STOPPING, ...) longer than this
    # is re-checked against its host and corrected.
    stuck_timeout = "5m"
  }
}

agent {
  # This host's name in the inventory. Default: the hostname.
  node_name = "node-1"

  # Control plane RPC addresses the agent dials.
  servers = ["127.0.0.1:8081"]

  # Secret presented to the server; must match server.join_token.
  join_token = ""

  # The backend plugin driving this host.
  backend = "libvirt"

  # How often the agent sends a heartbeat carrying its state hash.
  heartbeat_interval = "5s"

  # How often the agent lists every VM as a safety net besides events.
  resync_interval = "30s"

  # Random delay in [0, sync_jitter) before the full sync after connecting.
  sync_jitter = "5s"
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
    image_dir = "/var/lib/quantix/images"

    # Where QEMU writes each VM's log, <name>.log.
    qemu_log_dir = "/var/log/libvirt/qemu"

    # auto (kvm when the host can, else qemu), kvm or qemu.
    domain_type = "auto"
  }
}

# Log sinks ship log entries to a plugin quantix-logsink-<name>. sources picks
# which: ui, audit, system, qemu.
# log_sink "file" {
#   sources = ["ui", "audit"]
#   config {
#     path = "/var/log/quantix/actions.log"
#   }
# }
