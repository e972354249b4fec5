package api

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/vm"
)

// boolParam reads a boolean query parameter; absent is false.
func boolParam(c echo.Context, name string) (bool, error) {
	v := c.QueryParam(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s: %q is not a boolean (true or false)", name, v)
	}
	return b, nil
}

// intParam reads a whole number in lo..hi; absent is def.
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s: %q is not a whole number between %d and %d", name, v, lo, hi)
	}
	return n, nil
}

// durationParam reads a duration in (0, hi]; absent is 0.
func durationParam(c echo.Context, name string, hi time.Duration) (time.Duration, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, badRequest("%s: %q is not a duration such as \"30s\" or \"2m\"", name, v)
	}
	if d <= 0 || d > hi {
		return 0, badRequest("%s: %s is outside (0s, %s]", name, d, hi)
	}
	return d, nil
}

// listQuery reads the filters and paging of GET /api/vms.
func listQuery(c echo.Context) (controlplane.ListQuery, error) {
	var q controlplane.ListQuery
	var err error
	if v := c.QueryParam("state"); v != "" {
		if q.State, err = vm.ParseState(v); err != nil {
			return q, badRequest("state: %v", err)
		}
	}
	if v := c.QueryParam("origin"); v != "" {
		if q.Origin, err = vm.ParseOrigin(v); err != nil {
			return q, badRequest("origin: %v", err)
		}
	}
	q.NodeID = c.QueryParam("node_id")
	q.Search = strings.TrimSpace(c.QueryParam("q"))
	if n := utf8.RuneCountInString(q.Search); n > maxSearch {
		return q, badRequest("q: %d characters, at most %d (a part of a VM's name or the start of its id)", n, maxSearch)
	}
	if labels := c.QueryParams()["label"]; len(labels) > 0 {
		if len(labels) > maxLabelFilters {
			return q, badRequest("label: %d filters, at most %d allowed", len(labels), maxLabelFilters)
		}
		q.Labels = make(map[string]string, len(labels))
		for _, l := range labels {
			k, v, err := admission.ParseLabelFilter(l)
			if err != nil {
				return q, badRequest("label: %v", err)
			}
			if prev, ok := q.Labels[k]; ok && prev != v {
				return q, badRequest("label: key %q is given twice with different values", k)
			}
			q.Labels[k] = v
		}
	}
	if q.Limit, err = intParam(c, "limit", controlplane.DefaultPageSize, 1, controlplane.MaxPageSize); err != nil {
		return q, err
	}
	q.Cursor = strings.TrimSpace(c.QueryParam("cursor"))
	return q, nil
}

// maxSearch bounds the q of GET /api/vms: longer than any name or id.
const maxSearch = 100

// maxLabelFilters is how many label filters one list takes.
const maxLabelFilters = 32
