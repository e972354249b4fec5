package file_test

import (
	"strings"
	"testing"

	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestParseConfig(t *testing.T) {
	cfg, err := file.ParseConfig([]byte(`{"path":"/var/log/quantix//entries.log"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := file.Config{Path: "/var/log/quantix/entries.log", MaxSize: "100MiB", MaxFiles: 5}
	if cfg != want {
		t.Errorf("defaults: got %+v, want %+v", cfg, want)
	}
	cfg, err = file.ParseConfig([]byte(`{"path":"/x.log","max_size":"10MiB","max_files":0,"fsync":true}`))
	if err != nil || cfg.MaxFiles != 0 || !cfg.Fsync || cfg.MaxSize != "10MiB" {
		t.Errorf("explicit values: %+v, %v", cfg, err)
	}

	bad := []struct {
		name, raw, field, msg string
	}{
		{"no path", `{}`, "path", `"path" is required`},
		{"relative path", `{"path":"logs/x.log"}`, "path", "must be an absolute path"},
		{"unknown attribute", `{"path":"/x.log","rotate":true}`, "rotate", `unknown attribute "rotate"`},
		{"size without number", `{"path":"/x.log","max_size":"MiB"}`, "max_size", "is not a size"},
		{"unknown unit", `{"path":"/x.log","max_size":"10 parsecs"}`, "max_size", "is not a size"},
		{"zero size", `{"path":"/x.log","max_size":"0"}`, "max_size", "more than 0 bytes"},
		{"negative size", `{"path":"/x.log","max_size":"-1KiB"}`, "max_size", "is not a size"},
		{"size as a number", `{"path":"/x.log","max_size":1024}`, "max_size", `attribute "max_size" must be string`},
		{"negative max_files", `{"path":"/x.log","max_files":-1}`, "max_files", "want 0 to 1000"},
		{"too many files", `{"path":"/x.log","max_files":1001}`, "max_files", "want 0 to 1000"},
		{"fsync not a bool", `{"path":"/x.log","fsync":"yes"}`, "fsync", `attribute "fsync" must be bool`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := file.ParseConfig([]byte(tc.raw))
			if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field {
				t.Fatalf("ParseConfig(%s) = %v (kind %s, field %q), want an invalid argument naming %q", tc.raw, err, plugin.KindOf(err), plugin.FieldOf(err), tc.field)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"1": 1, "4096": 4096, "10B": 10, "1KB": 1000, "1kib": 1024, "10MiB": 10 << 20,
		"100MiB": 100 << 20, "2GB": 2e9, "1GiB": 1 << 30, " 3 MiB ": 3 << 20,
	}
	for in, want := range good {
		if got, err := file.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "1TiB", "0", "-5", "99999999999999999999", "4611686018427387904GiB"} {
		if got, err := file.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}
