package config

import (
	"strings"
	"testing"
)

// TestPluginBlockOfALogSink: a plugin block may name a log sink to set its
// binary's path and checksum; settings written there instead of in the
// log_sink block would be ignored, so they are refused, naming both blocks.
func TestPluginBlockOfALogSink(t *testing.T) {
	binary := `
plugin "file" {
  path     = "/opt/quantix/quantix-logsink-file"
  checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
}
log_sink "file" {
  sources = ["audit"]
  config { path = "/tmp/x.log" }
}
`
	c, err := Parse("q.hcl", []byte(binary))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a plugin block giving a log sink's path and checksum: %v", err)
	}
	if p := c.Plugin("file"); p == nil || p.Path != "/opt/quantix/quantix-logsink-file" || !strings.HasPrefix(p.Checksum, "sha256:") {
		t.Fatalf("Plugin(file) = %+v", p)
	}

	misplaced := `
plugin "file" {
  config { path = "/tmp/x.log" }
}
log_sink "file" {
  sources = ["audit"]
}
`
	c, err = Parse("q.hcl", []byte(misplaced))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("settings of a log sink in its plugin block were accepted and would be ignored")
	}
	for _, want := range []string{`q.hcl:2,1: plugin "file" config`, `config block of log_sink "file" (at q.hcl:5,1)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// The backend's settings stay in its plugin block, even when a log
	// sink has the same name.
	c, err = Parse("q.hcl", []byte(`
agent { backend = "sim" }
plugin "sim" {
  config { hostname = "h" }
}
log_sink "sim" {
  sources = ["audit"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the backend's settings in its plugin block: %v", err)
	}
}
