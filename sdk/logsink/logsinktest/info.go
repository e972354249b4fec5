package logsinktest

import (
	"slices"
	"testing"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testInfo checks what the sink says about itself.
func testInfo(t *testing.T, e *env) {
	c := e.sink(t)
	info, err := c.Info(e.op(t))
	if err != nil {
		t.Fatalf("Info(): %s", describe(err))
	}
	t.Logf("sink %q version %q, api versions %v, capabilities %v", info.Name, info.Version, info.APIVersions, info.Capabilities)
	if err := info.Validate(); err != nil {
		t.Errorf("Info() = %+v: %v", info, err)
	}
	if info.Type != plugin.TypeLogSink {
		t.Errorf("Info().Type = %q, want %q", info.Type, plugin.TypeLogSink)
	}
	if !slices.Contains(info.APIVersions, logsink.APIVersion) {
		t.Errorf("Info().APIVersions = %v, want it to include %d, the version of this sdk", info.APIVersions, logsink.APIVersion)
	}
	if _, err := plugin.Negotiate(logsink.APIVersions, info.APIVersions); err != nil {
		t.Errorf("Info().APIVersions: %v", err)
	}
}
