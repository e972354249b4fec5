package plugin

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/quantixvm/quantix/proto/quantix/plugin/v1"
)

// A host that dispenses a Quantix plugin over go-plugin's net/rpc gets an
// error saying the plugin speaks gRPC only, not a nil plugin.
func TestNetRPCIsRefused(t *testing.T) {
	p := &GRPCPlugin{Type: TypeBackend, APIVersions: []int{1}, NewClient: func(grpc.ClientConnInterface) any { return nil }}
	client, _ := goplugin.TestPluginRPCConn(t, p.PluginSets()[1], nil)
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(TypeBackend))
	if err == nil || !strings.Contains(err.Error(), "backend plugin: Quantix plugins speak gRPC only") {
		t.Fatalf("dispensing over net/rpc: %v, %v; want the gRPC-only error", raw, err)
	}
	if _, err := p.Client(nil, nil); KindOf(err) != KindUnsupported || !strings.Contains(err.Error(), "ProtocolGRPC") {
		t.Errorf("Client: %v; want an unsupported error naming ProtocolGRPC", err)
	}
	if err := p.GRPCServer(nil, grpc.NewServer()); err == nil || !strings.Contains(err.Error(), "no implementation") {
		t.Errorf("serving glue without an implementation: %v", err)
	}
}

func TestPluginSets(t *testing.T) {
	p := &GRPCPlugin{Type: TypeLogSink, APIVersions: []int{1, 2}}
	sets := p.PluginSets()
	if len(sets) != 2 || sets[1]["logsink"] != p || sets[2]["logsink"] != p {
		t.Errorf("PluginSets = %v", sets)
	}
}

// base answers Info and Configure as a plugin would.
type base struct {
	info   Info
	config []byte
	api    int
	err    error
}

func (b *base) Info(context.Context) (Info, error) { return b.info, b.err }

func (b *base) Configure(_ context.Context, config []byte, apiVersion int) error {
	b.config, b.api = config, apiVersion
	return b.err
}

// direct is a BaseRPC that hands the calls to the server side in process.
type direct struct{ impl Base }

func (d direct) Info(ctx context.Context, _ *pluginv1.InfoRequest, _ ...grpc.CallOption) (*pluginv1.InfoResponse, error) {
	return ServeInfo(ctx, d.impl)
}

func (d direct) Configure(ctx context.Context, in *pluginv1.ConfigureRequest, _ ...grpc.CallOption) (*pluginv1.ConfigureResponse, error) {
	return ServeConfigure(ctx, d.impl, in)
}

func TestBaseClientAndServer(t *testing.T) {
	impl := &base{info: Info{Name: "x", Type: TypeBackend, Version: "1.2.3", APIVersions: []int{1, 2}, Capabilities: []string{"events"}}}
	c := NewBaseClient(direct{impl})
	got, err := c.Info(t.Context())
	if err != nil || !reflect.DeepEqual(got, impl.info) {
		t.Errorf("Info = %+v, %v; want %+v", got, err, impl.info)
	}
	if err := c.Configure(t.Context(), []byte(`{"a":1}`), 2); err != nil || string(impl.config) != `{"a":1}` || impl.api != 2 {
		t.Errorf("Configure: %v; the plugin got %s, version %d", err, impl.config, impl.api)
	}
	impl.err = InvalidArgument("uri", "config: attribute \"uri\" is empty")
	if err := c.Configure(t.Context(), nil, 1); !errors.Is(err, ErrInvalidArgument) || FieldOf(err) != "uri" {
		t.Errorf("a bad config came back as %v (field %q)", err, FieldOf(err))
	}
	if _, err := c.Info(t.Context()); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("an Info error came back as %v", err)
	}
}

// The messages of base.proto keep the field numbers Info and Configure had
// when each plugin type declared its own: what a plugin built then sends
// still decodes, so the API versions stay as they are.
func TestBaseMessagesKeepTheirFieldNumbers(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "libvirt")
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, "backend")
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, "0.1.0")
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, protowire.AppendVarint(nil, 1))
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, "events")
	var info pluginv1.InfoResponse
	if err := proto.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "libvirt" || info.GetType() != "backend" || info.GetVersion() != "0.1.0" ||
		!reflect.DeepEqual(info.GetApiVersions(), []int32{1}) || !reflect.DeepEqual(info.GetCapabilities(), []string{"events"}) {
		t.Errorf("InfoResponse = %v", &info)
	}

	b = protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte(`{}`))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	var cfg pluginv1.ConfigureRequest
	if err := proto.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg.GetConfigJson()) != "{}" || cfg.GetApiVersion() != 1 {
		t.Errorf("ConfigureRequest = %v", &cfg)
	}
}
