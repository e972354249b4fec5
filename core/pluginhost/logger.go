package pluginhost

import (
	"io"

	"github.com/hashicorp/go-hclog"
)

// pluginLogger is the logger a plugin's output is re-logged under: the
// host's logger named "plugin.<name>". go-plugin names the logger it re-logs
// a plugin's stderr with after the binary (and its stdio after "stdio");
// fixedName keeps every line under the plugin's name instead.
func pluginLogger(host hclog.Logger, name string) hclog.Logger {
	if host == nil {
		host = hclog.NewNullLogger()
	}
	return fixedName{host.Named("plugin." + name)}
}

// fixedName is an hclog.Logger whose Named returns itself.
type fixedName struct{ hclog.Logger }

func (l fixedName) Named(string) hclog.Logger { return l }

// lineWriter re-logs what a plugin writes to its own stdout or stderr (not
// through its logger) line by line, inferring the level from a "[LEVEL]"
// prefix.
func lineWriter(l hclog.Logger) io.Writer {
	return l.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true})
}
