package backendtest

import (
	"maps"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// unknownAttribute is the attribute the Config subtest adds to a valid
// config block: no backend has it.
const unknownAttribute = "qx_conformance_unknown"

// testConfig configures a fresh backend (Harness.Config.New) with bad config
// blocks and checks that each is an invalid-argument error naming the wrong
// attribute, and that the backend takes a valid block afterwards.
func testConfig(t *testing.T, e *env) {
	cc := e.h.Config
	if cc == nil {
		t.Skipf("SKIPPED: Harness.Config is nil, so the refusal of bad config attributes is not tested; " +
			"give the harness a way to make an unconfigured backend, a valid config block and blocks each wrong in one attribute")
	}
	if cc.New == nil {
		t.Fatal("backendtest: Harness.Config.New is nil; it must return a Backend of the kind under test that is not configured yet")
	}
	impl := cc.New(t)
	if impl == nil {
		t.Fatal("backendtest: Harness.Config.New returned a nil Backend")
	}
	c, ok := impl.(*backend.GRPCClient)
	if !ok {
		c = serve(t, impl)
	}

	configure := func(cfg map[string]any) (string, error) {
		t.Helper()
		raw, err := plugin.EncodeConfig(cfg)
		if err != nil {
			t.Fatalf("backendtest: a config block of Harness.Config: %v", err)
		}
		return string(raw), c.Configure(e.op(t), raw, backend.APIVersion)
	}
	unknown := maps.Clone(cc.Valid)
	if unknown == nil {
		unknown = map[string]any{}
	}
	unknown[unknownAttribute] = true
	cases := append([]BadConfig{{Config: unknown, Attribute: unknownAttribute}}, cc.Invalid...)
	for _, bad := range cases {
		raw, err := configure(bad.Config)
		what := "Configure(" + raw + ")"
		if !wantKind(t, what, err, plugin.KindInvalidArgument) {
			continue
		}
		if f := plugin.FieldOf(err); f != bad.Attribute {
			t.Errorf("%s: %s names field %q, want the wrong attribute %q", what, describe(err), f, bad.Attribute)
		}
		if !strings.Contains(err.Error(), bad.Attribute) {
			t.Errorf("%s: message %q does not name the wrong attribute %q; an operator reads it to fix the config block", what, err.Error(), bad.Attribute)
		}
	}
	if len(cc.Invalid) == 0 {
		t.Logf("Harness.Config.Invalid is empty: only an unknown attribute is tested")
	}

	raw, err := configure(cc.Valid)
	if err != nil {
		t.Fatalf("Configure(%s) with Harness.Config.Valid after %d refused blocks = %s, want success: a refused config must leave the backend configurable",
			raw, len(cases), describe(err))
	}
	if _, err := c.HostInfo(e.op(t)); err != nil {
		t.Errorf("HostInfo() after Configure(%s) = %s, want the host's description", raw, describe(err))
	}
}
