package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ListVMsOptions are the filters and paging of GET /api/vms.
type ListVMsOptions struct {
	// State, NodeID and Origin keep only the VMs that match; TERMINATED
	// VMs are listed only with State "TERMINATED".
	State  string
	NodeID string
	Origin string
	// Labels are "key=value" filters, all of which must match.
	Labels []string
	// Limit is the page size (1..1000); zero is the API's default.
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

func (o ListVMsOptions) query() url.Values {
	q := url.Values{}
	set(q, "state", o.State)
	set(q, "node_id", o.NodeID)
	set(q, "origin", o.Origin)
	for _, l := range o.Labels {
		q.Add("label", l)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	set(q, "cursor", o.Cursor)
	return q
}

// set sets q[name] when value is not empty.
func set(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

// vmPath is the path of a VM route; ref is a VM's id or name.
func vmPath(ref, suffix string) (string, error) {
	if ref == "" {
		return "", errors.New("no vm given: an id or a name is needed")
	}
	return "/api/vms/" + escape(ref) + suffix, nil
}

// ListVMs returns one page of VMs, oldest first.
func (c *Client) ListVMs(ctx context.Context, opts ListVMsOptions) (*VMPage, error) {
	var page VMPage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/vms", query: opts.query()}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllVMs returns every VM that matches opts, following the cursor from
// page to page (opts.Limit is then the page size).
func (c *Client) AllVMs(ctx context.Context, opts ListVMsOptions) ([]VM, error) {
	var out []VM
	seen := map[string]bool{}
	for {
		page, err := c.ListVMs(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.VMs...)
		if page.NextCursor == "" {
			return out, nil
		}
		if seen[page.NextCursor] {
			return nil, fmt.Errorf("listing vms: the API returned cursor %q twice", page.NextCursor)
		}
		seen[page.NextCursor] = true
		opts.Cursor = page.NextCursor
	}
}

// GetVM returns a VM by id or name.
func (c *Client) GetVM(ctx context.Context, ref string) (*VM, error) {
	p, err := vmPath(ref, "")
	if err != nil {
		return nil, err
	}
	var v VM
	if err := c.do(ctx, request{method: http.MethodGet, path: p}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CreateVM creates a VM; it is STOPPED once this returns.
func (c *Client) CreateVM(ctx context.Context, req CreateVMRequest) (*VM, error) {
	var v VM
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/vms", body: req}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// PatchVM changes the fields req sets (PATCH /api/vms/{id}) and returns
// the VM as changed.
func (c *Client) PatchVM(ctx context.Context, ref string, req PatchVMRequest) (*VM, error) {
	p, err := vmPath(ref, "")
	if err != nil {
		return nil, err
	}
	var v VM
	if err := c.do(ctx, request{method: http.MethodPatch, path: p, body: req}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// action posts a VM action and returns its reply.
func (c *Client) action(ctx context.Context, method, ref, suffix string, q url.Values) (*ActionResult, error) {
	p, err := vmPath(ref, suffix)
	if err != nil {
		return nil, err
	}
	var res ActionResult
	if err := c.do(ctx, request{method: method, path: p, query: q}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func forceQuery(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"true"}}
}

// DeleteVM deletes a VM with the disks it owns; the API refuses a running
// VM unless force is set.
func (c *Client) DeleteVM(ctx context.Context, ref string, force bool) (*ActionResult, error) {
	return c.action(ctx, http.MethodDelete, ref, "", forceQuery(force))
}

// StartVM starts a VM.
func (c *Client) StartVM(ctx context.Context, ref string) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/start", nil)
}

// StopOptions say how a VM stops.
type StopOptions struct {
	// Force stops the VM at once, as pulling the plug.
	Force bool
	// Timeout bounds a graceful stop, after which the VM is stopped hard;
	// zero is the server's default.
	Timeout time.Duration
}

// StopVM stops a VM.
func (c *Client) StopVM(ctx context.Context, ref string, opts StopOptions) (*ActionResult, error) {
	q := url.Values{}
	if opts.Force {
		q.Set("force", "true")
	}
	if opts.Timeout > 0 {
		q.Set("timeout", opts.Timeout.String())
	}
	return c.action(ctx, http.MethodPost, ref, "/stop", q)
}

// RebootVM reboots a VM.
func (c *Client) RebootVM(ctx context.Context, ref string) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/reboot", nil)
}

// PauseVM pauses a running VM.
func (c *Client) PauseVM(ctx context.Context, ref string) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/pause", nil)
}

// ResumeVM resumes a paused VM.
func (c *Client) ResumeVM(ctx context.Context, ref string) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/resume", nil)
}

// ResetState gets a VM out of a stuck state: the host is asked for the real
// state, or with force the VM is set STOPPED without asking.
func (c *Client) ResetState(ctx context.Context, ref string, force bool) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/reset_state", forceQuery(force))
}

// AdoptVM makes a host-discovered VM managed (origin imported).
func (c *Client) AdoptVM(ctx context.Context, ref string) (*ActionResult, error) {
	return c.action(ctx, http.MethodPost, ref, "/adopt", nil)
}

// VMLogs returns the last lines of a VM's QEMU log; lines zero is the
// API's default (100).
func (c *Client) VMLogs(ctx context.Context, ref string, lines int) (*VMLog, error) {
	p, err := vmPath(ref, "/logs")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if lines > 0 {
		q = url.Values{"lines": {strconv.Itoa(lines)}}
	}
	var l VMLog
	if err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// VMEvents returns one page of a VM's history, oldest first; limit zero is
// the API's default page size.
func (c *Client) VMEvents(ctx context.Context, ref, cursor string, limit int) (*EventPage, error) {
	p, err := vmPath(ref, "/events")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	set(q, "cursor", cursor)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page EventPage
	if err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllVMEvents returns a VM's whole history, oldest first, following the
// cursor from page to page.
func (c *Client) AllVMEvents(ctx context.Context, ref string) (*EventPage, error) {
	var out EventPage
	cursor := ""
	seen := map[string]bool{}
	for {
		page, err := c.VMEvents(ctx, ref, cursor, 1000)
		if err != nil {
			return nil, err
		}
		out.VMID = page.VMID
		out.Events = append(out.Events, page.Events...)
		if page.NextCursor == "" {
			return &out, nil
		}
		if seen[page.NextCursor] {
			return nil, fmt.Errorf("listing the events of vm %s: the API returned cursor %q twice", ref, page.NextCursor)
		}
		seen[page.NextCursor] = true
		cursor = page.NextCursor
	}
}
