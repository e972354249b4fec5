package plugin

import (
	"fmt"
	"slices"
	"strings"
)

// Type names a kind of plugin. It is also the go-plugin dispense name and the
// binary prefix: quantix-<type>-<name>.
type Type string

const (
	// TypeBackend drives a hypervisor.
	TypeBackend Type = "backend"
	// TypeLogSink ships log entries somewhere.
	TypeLogSink Type = "logsink"
)

// BinaryName is the file name a plugin of type t called name is installed as.
func BinaryName(t Type, name string) string {
	return fmt.Sprintf("quantix-%s-%s", t, name)
}

// Info is what a plugin says about itself.
type Info struct {
	// Name is the plugin's short name, e.g. "libvirt".
	Name string `json:"name"`
	// Type is the kind of plugin.
	Type Type `json:"type"`
	// Version is the plugin's own release version.
	Version string `json:"version"`
	// APIVersions lists the plugin API versions it speaks.
	APIVersions []int `json:"api_versions"`
	// Capabilities lists optional features, e.g. "events", "logs".
	Capabilities []string `json:"capabilities"`
}

// Has reports whether the plugin announced capability c.
func (i Info) Has(c string) bool { return slices.Contains(i.Capabilities, c) }

// Validate checks that the description is complete.
func (i Info) Validate() error {
	var missing []string
	if i.Name == "" {
		missing = append(missing, "name")
	}
	if i.Type == "" {
		missing = append(missing, "type")
	}
	if i.Version == "" {
		missing = append(missing, "version")
	}
	if len(i.APIVersions) == 0 {
		missing = append(missing, "api_versions")
	}
	if len(missing) > 0 {
		return fmt.Errorf("plugin info is missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// Negotiate returns the highest API version both the host and the plugin
// speak, or an error listing both sides when they share none.
func Negotiate(host, plugin []int) (int, error) {
	best := 0
	for _, v := range plugin {
		if v > best && slices.Contains(host, v) {
			best = v
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no common plugin API version: host speaks %v, plugin speaks %v; upgrade the older side", host, plugin)
	}
	return best, nil
}
