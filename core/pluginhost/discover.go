package pluginhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Locate returns the absolute path of the binary of plugin name of type t:
// path when it is set (the plugin block's `path`), otherwise
// <dir>/quantix-<t>-<name> (dir is plugin_dir). The file must exist, be a
// regular file and be executable, and neither it nor the directory holding
// it may be writable by anyone but its owner, who must be root or the user
// quantixd runs as (checkOwnership); the error says what was looked for,
// where, and how to fix it.
func Locate(t plugin.Type, name, dir, path string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("locating %s plugin: the plugin has no name; give the plugin block a name, e.g. plugin %q {}", t, "libvirt")
	}
	binary := plugin.BinaryName(t, name)
	where := "path"
	if path == "" {
		if dir == "" {
			return "", fmt.Errorf("locating plugin %q: plugin_dir is not set and plugin %q has no path; set plugin_dir to the directory holding %s (make build puts it in bin/plugins) or set path in the plugin %q block", name, name, binary, name)
		}
		path = filepath.Join(dir, binary)
		where = "plugin_dir"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("locating plugin %q: %w", name, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && where == "plugin_dir":
		return "", fmt.Errorf("locating plugin %q: %s not found in plugin_dir %s; run \"make build\" to build it there, or set path in the plugin %q block", name, binary, filepath.Dir(abs), name)
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("locating plugin %q: %s (the plugin's path) does not exist; fix path in the plugin %q block or run \"make build\"", name, abs, name)
	case err != nil:
		return "", fmt.Errorf("locating plugin %q: %w; check the permissions of %s", name, err, filepath.Dir(abs))
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("locating plugin %q: %s is not a regular file (mode %s); point %s at the %s binary", name, abs, fi.Mode(), where, binary)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("locating plugin %q: %s is not executable (mode %s); run \"chmod +x %s\" or rebuild it with \"make build\"", name, abs, fi.Mode().Perm(), abs)
	}
	if err := checkOwnership(name, abs); err != nil {
		return "", err
	}
	return abs, nil
}
