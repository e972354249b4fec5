package plugin

import (
	"context"

	"google.golang.org/grpc"

	pluginv1 "github.com/quantixvm/quantix/proto/quantix/plugin/v1"
)

// The Info and Configure calls of every plugin type, in one place. Each
// type's service declares them with the messages of
// proto/quantix/plugin/v1/base.proto; the type's gRPC server answers them
// with ServeInfo and ServeConfigure and its client embeds a BaseClient.

// ServeInfo answers a plugin's Info call with what d says.
func ServeInfo(ctx context.Context, d Describer) (*pluginv1.InfoResponse, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	resp := &pluginv1.InfoResponse{Name: info.Name, Type: string(info.Type), Version: info.Version, Capabilities: info.Capabilities}
	for _, v := range info.APIVersions {
		resp.ApiVersions = append(resp.ApiVersions, int32(v))
	}
	return resp, nil
}

// ServeConfigure answers a plugin's Configure call by passing the config
// block and the API version on to c.
func ServeConfigure(ctx context.Context, c Configurer, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if err := c.Configure(ctx, req.GetConfigJson(), int(req.GetApiVersion())); err != nil {
		return nil, ToStatus(err)
	}
	return &pluginv1.ConfigureResponse{}, nil
}

// BaseRPC is the part of a plugin type's generated gRPC client that every
// type shares.
type BaseRPC interface {
	Info(ctx context.Context, in *pluginv1.InfoRequest, opts ...grpc.CallOption) (*pluginv1.InfoResponse, error)
	Configure(ctx context.Context, in *pluginv1.ConfigureRequest, opts ...grpc.CallOption) (*pluginv1.ConfigureResponse, error)
}

// BaseClient is the host's side of Info and Configure, for a plugin of any
// type: the client of each type embeds it, so that it is a Base. Errors
// come back as *Error of the kind the plugin returned.
type BaseClient struct {
	rpc BaseRPC
}

var _ Base = BaseClient{}

// NewBaseClient calls Info and Configure through rpc.
func NewBaseClient(rpc BaseRPC) BaseClient { return BaseClient{rpc: rpc} }

// Info asks the plugin what it is.
func (c BaseClient) Info(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Info(ctx, &pluginv1.InfoRequest{})
	if err != nil {
		return Info{}, FromStatus(err)
	}
	info := Info{Name: resp.GetName(), Type: Type(resp.GetType()), Version: resp.GetVersion(), Capabilities: resp.GetCapabilities()}
	for _, v := range resp.GetApiVersions() {
		info.APIVersions = append(info.APIVersions, int(v))
	}
	return info, nil
}

// Configure passes the config block, a JSON object, and the API version.
func (c BaseClient) Configure(ctx context.Context, config []byte, apiVersion int) error {
	_, err := c.rpc.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: config, ApiVersion: int32(apiVersion)})
	return FromStatus(err)
}
