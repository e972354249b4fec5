package backendtest

import (
	"slices"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testInfo checks the plugin's self-description as it arrives over gRPC.
func testInfo(t *testing.T, e *env) {
	info, err := e.c.Info(e.op(t))
	if err != nil {
		t.Fatalf("Info() = %s, want the plugin's description", describe(err))
	}
	if err := info.Validate(); err != nil {
		t.Errorf("Info() = %+v: %v", info, err)
	}
	if info.Type != plugin.TypeBackend {
		t.Errorf("Info().Type = %q, want %q", info.Type, plugin.TypeBackend)
	}
	if !slices.Contains(info.APIVersions, backend.APIVersion) {
		t.Errorf("Info().APIVersions = %v, want it to include this SDK's backend.APIVersion %d", info.APIVersions, backend.APIVersion)
	}
	if v, err := plugin.Negotiate(backend.APIVersions, info.APIVersions); err != nil {
		t.Errorf("negotiating with Info().APIVersions %v: %v", info.APIVersions, err)
	} else if v != backend.APIVersion {
		t.Errorf("negotiating host %v with Info().APIVersions %v gave %d, want %d", backend.APIVersions, info.APIVersions, v, backend.APIVersion)
	}
	seen := map[string]bool{}
	for _, c := range info.Capabilities {
		switch {
		case c == "":
			t.Errorf("Info().Capabilities = %q contains an empty capability", info.Capabilities)
		case seen[c]:
			t.Errorf("Info().Capabilities = %q lists %q twice", info.Capabilities, c)
		}
		seen[c] = true
	}
}

// testHostInfo checks that the host describes itself.
func testHostInfo(t *testing.T, e *env) {
	h, err := e.c.HostInfo(e.op(t))
	if err != nil {
		t.Fatalf("HostInfo() = %s, want the host's description", describe(err))
	}
	if h == nil {
		t.Fatal("HostInfo() returned nil without an error")
	}
	if h.Hostname == "" {
		t.Errorf("HostInfo().Hostname is empty, want the host's name")
	}
	if h.CPUs < 1 {
		t.Errorf("HostInfo().CPUs = %d, want at least 1", h.CPUs)
	}
	if h.MemoryMiB == 0 {
		t.Errorf("HostInfo().MemoryMiB = 0, want the host's memory")
	}
	t.Logf("host: %+v", *h)
}
