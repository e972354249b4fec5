//go:build unix

package pluginhost

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkOwnership refuses to run the plugin binary at path (absolute) when
// someone other than its owner could replace what quantixd runs: when the
// binary, or the directory holding it, is writable by its group or by
// everyone, or is owned by a user that is neither root nor the user quantixd
// runs as. A link is followed, and both the directory of the link and the
// file and directory it leads to are checked. A directory with the sticky bit
// set (such as /tmp) may be writable by everyone: others can neither remove
// nor rename what they do not own in it.
//
// The error names the file or directory at fault and the command that fixes
// it.
func checkOwnership(name, path string) error {
	if err := checkOwner(name, path, filepath.Dir(path), "directory"); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("plugin %q: resolving %s: %w", name, path, err)
	}
	if dir := filepath.Dir(real); dir != filepath.Dir(path) {
		if err := checkOwner(name, path, dir, "directory"); err != nil {
			return err
		}
	}
	return checkOwner(name, path, real, "binary")
}

// checkOwner checks one file or directory, what, on the way to the plugin
// binary at path.
func checkOwner(name, path, what, kind string) error {
	fi, err := os.Stat(what)
	if err != nil {
		return fmt.Errorf("plugin %q: checking who may write %s: %w", name, what, err)
	}
	subject := "it"
	if what != path {
		subject = fmt.Sprintf("its %s %s", kind, what)
	}
	mode := fi.Mode()
	sticky := mode.IsDir() && mode&fs.ModeSticky != 0
	if perm := mode.Perm(); perm&0o022 != 0 && !sticky {
		return fmt.Errorf("plugin %q: refusing to run %s: %s is writable by %s (mode %s), who could replace the plugin; run \"chmod go-w %s\"",
			name, path, subject, writers(perm), mode, what)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if self := os.Geteuid(); st.Uid != 0 && int(st.Uid) != self {
		return fmt.Errorf("plugin %q: refusing to run %s: %s is owned by uid %d, neither root nor the user quantixd runs as (uid %d), who could replace the plugin; run \"chown %d %s\"",
			name, path, subject, st.Uid, self, self, what)
	}
	return nil
}

// writers says who besides the owner may write a file of mode perm.
func writers(perm fs.FileMode) string {
	switch {
	case perm&0o022 == 0o022:
		return "its group and everyone"
	case perm&0o020 != 0:
		return "its group"
	}
	return "everyone"
}
