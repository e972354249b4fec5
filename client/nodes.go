package client

import (
	"context"
	"errors"
	"net/http"
)

// ListNodes returns every node.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var reply struct {
		Nodes []Node `json:"nodes"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/nodes"}, &reply); err != nil {
		return nil, err
	}
	return reply.Nodes, nil
}

// GetNode returns a node by id or name.
func (c *Client) GetNode(ctx context.Context, ref string) (*Node, error) {
	if ref == "" {
		return nil, errors.New("no node given: an id or a name is needed")
	}
	var n Node
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/nodes/" + escape(ref)}, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Health returns the server's liveness and version.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/health"}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
