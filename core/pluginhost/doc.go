// Package pluginhost finds, verifies, launches and supervises Quantix plugins
// for the daemon.
//
// A backend plugin is a separate process (quantix-backend-<name>) spoken to
// over gRPC through HashiCorp go-plugin with automatic mutual TLS. The host
// looks the binary up in plugin_dir or at an explicit path, checks its
// optional sha256 checksum before running it, negotiates the API version,
// passes the plugin's `config {}` block to Configure and keeps the plugin
// running: when the process dies, every call fails at once with an error
// matching plugin.ErrUnavailable, the plugin is relaunched with exponential
// backoff and reconfigured, and relaunch listeners are told so the agent can
// resync.
//
// The same backend.Backend can also be linked in-process (InProcess), with
// no process and no supervision, for built-ins and scale tests.
//
// A log sink plugin (quantix-logsink-<name>, from a `log_sink "<name>" {}`
// block) is launched with LaunchLogSink and supervised the same way: while
// its process is down a Write fails as unavailable, so the log pipeline
// keeps the entries and sends them again once the host has relaunched and
// reconfigured it.
package pluginhost
