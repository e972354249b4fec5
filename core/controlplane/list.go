package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// maxListRounds bounds how many store pages one List reads to fill a page
// when TERMINATED VMs are skipped; a page that needs more comes back short,
// with a cursor.
const maxListRounds = 16

// ListQuery filters and pages a VM list. Zero values do not filter.
type ListQuery struct {
	State  vm.State
	NodeID string
	Origin vm.Origin
	// Labels: every key=value must match.
	Labels map[string]string
	// Search: a part of the name, in any case, or the start of the id
	// (store.ListOptions.Search).
	Search string
	// Limit is the page size, 1..MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// Cursor continues after the page that returned it.
	Cursor string
}

// Page is one page of VMs and the cursor of the next ("" at the end).
type Page struct {
	VMs        []*vm.VM
	NextCursor string
}

// List returns one page of VMs, oldest first. TERMINATED VMs are left out
// unless the query asks for that state.
func (s *Service) List(ctx context.Context, q ListQuery) (*Page, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 1 || limit > MaxPageSize:
		return nil, errorf(KindBadRequest, "limit: %d is outside 1..%d", q.Limit, MaxPageSize)
	}
	opts := store.ListOptions{State: q.State, NodeID: q.NodeID, Origin: q.Origin, Labels: q.Labels, Search: q.Search, Limit: limit, Cursor: q.Cursor}
	if q.State != "" {
		vms, next, err := s.store.VMs().List(ctx, opts)
		if err != nil {
			return nil, listError(err)
		}
		return &Page{VMs: vms, NextCursor: next}, nil
	}
	// Each round asks for exactly what is missing, so the store's cursor
	// always points just past the last VM looked at.
	page := &Page{VMs: make([]*vm.VM, 0, limit)}
	for range maxListRounds {
		opts.Limit = limit - len(page.VMs)
		vms, next, err := s.store.VMs().List(ctx, opts)
		if err != nil {
			return nil, listError(err)
		}
		for _, v := range vms {
			if v.State != vm.StateTerminated {
				page.VMs = append(page.VMs, v)
			}
		}
		page.NextCursor = next
		if next == "" || len(page.VMs) == limit {
			break
		}
		opts.Cursor = next
	}
	return page, nil
}

func listError(err error) error {
	e := storeError("listing vms", err)
	if e.Kind == KindBadRequest {
		e.Message = fmt.Sprintf("cursor or filter not usable: %v", err)
	}
	return e
}
