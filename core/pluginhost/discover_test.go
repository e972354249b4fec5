package pluginhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/plugin"
)

func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "quantix-backend-libvirt")
	writeFile(t, bin, 0o755)
	writeFile(t, filepath.Join(dir, "quantix-backend-noexec"), 0o644)
	if err := os.Mkdir(filepath.Join(dir, "quantix-backend-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	explicit := filepath.Join(dir, "custom-name")
	writeFile(t, explicit, 0o700)

	tests := []struct {
		name       string
		plugin     string
		dir, path  string
		want       string
		wantErrHas []string
	}{
		{name: "found in plugin_dir", plugin: "libvirt", dir: dir, want: bin},
		{name: "explicit path wins over plugin_dir", plugin: "libvirt", dir: "/nonexistent", path: explicit, want: explicit},
		{name: "missing in plugin_dir", plugin: "kvm", dir: dir,
			wantErrHas: []string{`plugin "kvm"`, "quantix-backend-kvm", dir, "make build", "path"}},
		{name: "missing explicit path", plugin: "kvm", path: filepath.Join(dir, "nope"),
			wantErrHas: []string{`plugin "kvm"`, filepath.Join(dir, "nope"), "make build"}},
		{name: "not executable", plugin: "noexec", dir: dir,
			wantErrHas: []string{"quantix-backend-noexec", "not executable", "chmod +x"}},
		{name: "a directory", plugin: "dir", dir: dir,
			wantErrHas: []string{"quantix-backend-dir", "not a regular file"}},
		{name: "no plugin_dir and no path", plugin: "libvirt",
			wantErrHas: []string{"plugin_dir is not set", "quantix-backend-libvirt", "path"}},
		{name: "no name", plugin: "", dir: dir, wantErrHas: []string{"no name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Locate(plugin.TypeBackend, tt.plugin, tt.dir, tt.path)
			if len(tt.wantErrHas) == 0 {
				if err != nil {
					t.Fatalf("Locate: %v", err)
				}
				if got != tt.want {
					t.Fatalf("Locate = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Locate = %q, want an error", got)
			}
			for _, s := range tt.wantErrHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLocateRelativeDirIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "quantix-backend-libvirt"), 0o755)
	t.Chdir(dir)
	got, err := Locate(plugin.TypeBackend, "libvirt", ".", "")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) {
		t.Fatalf("Locate = %q, want an absolute path", got)
	}
}

func TestLaunchMissingPluginNamesPathAndFix(t *testing.T) {
	dir := t.TempDir()
	_, err := LaunchBackend(t.Context(), Config{Name: "libvirt", Dir: dir, Settings: testSettings()})
	if err == nil {
		t.Fatal("LaunchBackend of a missing plugin succeeded")
	}
	for _, s := range []string{"quantix-backend-libvirt", dir, "make build"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
