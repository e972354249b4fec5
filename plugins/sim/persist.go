package sim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// stateFileVersion is the format of the state file.
const stateFileVersion = 1

// stateFile is what the state file holds: the host's whole inventory.
type stateFile struct {
	Version  int           `json:"version"`
	Hostname string        `json:"hostname"`
	VMs      []*backend.VM `json:"vms"`
}

// load reads the inventory from the state file into b's maps; it reports
// false when the file does not exist yet. b.mu is held.
func (b *Backend) load(s *settings) (bool, error) {
	data, err := os.ReadFile(s.stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, plugin.InvalidArgument("state_file", "config: attribute \"state_file\": %v", err)
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return false, plugin.InvalidArgument("state_file", "config: attribute \"state_file\": %s is not a sim state file: %v", s.stateFile, err)
	}
	if sf.Version != stateFileVersion {
		return false, plugin.InvalidArgument("state_file", "config: attribute \"state_file\": %s has version %d, want %d", s.stateFile, sf.Version, stateFileVersion)
	}
	if sf.Hostname != s.hostname {
		return false, plugin.InvalidArgument("state_file", "config: attribute \"state_file\": %s holds host %q, not %q", s.stateFile, sf.Hostname, s.hostname)
	}
	for _, vm := range sf.VMs {
		if vm == nil {
			continue
		}
		if err := b.checkFree("configure: loading "+s.stateFile, vm); err != nil {
			return false, err
		}
		b.vms[vm.ID] = vm
		b.names[vm.Name] = vm.ID
	}
	return true, nil
}

// save writes the inventory to the state file, when one is configured, by
// writing a new file and renaming it over the old one. A failure is logged:
// the change it records has happened on the simulated host. b.mu is held.
func (b *Backend) save() {
	if b.set == nil || b.set.stateFile == "" {
		return
	}
	if err := b.writeState(b.set); err != nil {
		b.log.Error("saving the state file", "path", b.set.stateFile, "error", err)
	}
}

func (b *Backend) writeState(s *settings) error {
	sf := stateFile{Version: stateFileVersion, Hostname: s.hostname, VMs: make([]*backend.VM, 0, len(b.vms))}
	for _, vm := range b.vms {
		sf.VMs = append(sf.VMs, vm)
	}
	slices.SortFunc(sf.VMs, func(a, c *backend.VM) int { return cmp.Compare(a.Name, c.Name) })
	data, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("encoding the state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.stateFile), filepath.Base(s.stateFile)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.stateFile)
}
