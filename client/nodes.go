package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// NodePage is one page of nodes, in name order.
type NodePage struct {
	Nodes []Node `json:"nodes"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor"`
}

// ListNodesPage returns one page of nodes in name order: limit 1..1000 (0
// leaves the server's default), cursor the NextCursor of the previous page
// ("" for the first).
func (c *Client) ListNodesPage(ctx context.Context, limit int, cursor string) (*NodePage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	set(q, "cursor", cursor)
	var page NodePage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/nodes", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// ListNodes returns every node, following the cursor from page to page.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var out []Node
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := c.ListNodesPage(ctx, 1000, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Nodes...)
		if page.NextCursor == "" {
			return out, nil
		}
		if seen[page.NextCursor] {
			return nil, fmt.Errorf("listing nodes: the API returned cursor %q twice", page.NextCursor)
		}
		seen[page.NextCursor] = true
		cursor = page.NextCursor
	}
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

// NodeRemoved is the reply of RemoveNode.
type NodeRemoved struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	// Node is the node as it was.
	Node *Node `json:"node"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw reply.
func (r *NodeRemoved) UnmarshalJSON(b []byte) error {
	type plain NodeRemoved
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = slices.Clone(b)
	return nil
}

// RemoveNode removes a node (by id or name) from the inventory. The API
// refuses a node whose agent is connected or that holds VMs unless force
// is set, which ends the agent's session and removes the node's unmanaged
// VM records; a node holding managed VMs is refused even then.
func (c *Client) RemoveNode(ctx context.Context, ref string, force bool) (*NodeRemoved, error) {
	if ref == "" {
		return nil, errors.New("no node given: an id or a name is needed")
	}
	var r NodeRemoved
	if err := c.do(ctx, request{method: http.MethodDelete, path: "/api/nodes/" + escape(ref), query: forceQuery(force)}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Health returns the server's liveness and version.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/health"}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
