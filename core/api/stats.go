package api

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/core/store"
)

// Bounds of the stats routes' parameters.
const (
	// DefaultStatsSince is how far back GET .../stats goes without since.
	DefaultStatsSince = 15 * time.Minute
	// MaxStatsPoints bounds the points of one answer: (now - since) / step.
	MaxStatsPoints = 5000
	// MaxStatsStep is the coarsest step.
	MaxStatsStep = 24 * time.Hour
	// MaxTopVMs bounds GET /api/stats/top's limit.
	MaxTopVMs = 100
)

// statPoint is a point as the API serves it: with the CPU as a percentage
// of the VM's vCPUs (a node's: of its host's CPUs).
type statPoint struct {
	store.StatPoint
	CPUPercent float64 `json:"cpu_percent"`
}

// statsReply is the answer of GET /api/vms/{id}/stats and
// /api/nodes/{id}/stats.
type statsReply struct {
	VMID   string    `json:"vm_id,omitempty"`
	NodeID string    `json:"node_id"`
	Since  time.Time `json:"since"`
	// StepSeconds is the points' resolution: the step asked for, or what
	// the source has when none was asked (the agents' sampling interval
	// in memory, server.stats.history_step in the history).
	StepSeconds float64 `json:"step_seconds"`
	// Source is "memory" (this server holds the node's samples) or
	// "history" (the store's averaged points, the same on every server).
	Source string      `json:"source"`
	Points []statPoint `json:"points"`
	// Note says, in plain words, why there are no points; absent when
	// there are some.
	Note string `json:"note,omitempty"`
}

// statsQuery reads since and step and checks them against what the
// server keeps.
func (s *Server) statsQuery(c echo.Context, now time.Time) (since time.Time, step time.Duration, err error) {
	since, err = timeParam(c, "since", now)
	if err != nil {
		return since, 0, err
	}
	if since.IsZero() {
		since = now.Add(-DefaultStatsSince)
	}
	if since.After(now) {
		return since, 0, badRequest("since: %s is in the future; give a past time or a duration such as 15m", since.UTC().Format(time.RFC3339))
	}
	if ret := s.stats.Retention(); since.Before(now.Add(-ret - time.Minute)) {
		return since, 0, badRequest("since: %s is older than the statistics are kept (server.stats.retention = %s)", since.UTC().Format(time.RFC3339), ret)
	}
	step, err = durationParam(c, "step", MaxStatsStep)
	if err != nil {
		return since, 0, err
	}
	if step > 0 && step < time.Second {
		return since, 0, badRequest("step: %s is below 1s", step)
	}
	span := now.Sub(since)
	res := step
	if res == 0 {
		res = s.resolution(since, now)
	}
	if n := span / res; n > MaxStatsPoints {
		return since, 0, badRequest("step: %s from since (%s ago) makes %d points, more than %d; ask for a step of at least %s or a later since",
			res, span.Round(time.Second), n, MaxStatsPoints, (span/MaxStatsPoints).Round(time.Second)+time.Second)
	}
	return since, step, nil
}

// resolution is what an answer has without step: the sampling interval
// within the window, the history step before.
func (s *Server) resolution(since, now time.Time) time.Duration {
	if since.Before(now.Add(-s.stats.Window())) {
		return s.stats.HistoryStep()
	}
	if iv := s.stats.Interval(); iv > 0 {
		return iv
	}
	return 10 * time.Second
}

// points answers from memory when this server holds the series, the
// window covers since and step is finer than the history's; from the
// history otherwise.
func (s *Server) points(c echo.Context, since, now time.Time, step time.Duration,
	mem func(time.Time) ([]store.StatPoint, bool), hist func() ([]store.StatPoint, error)) ([]store.StatPoint, string, time.Duration, error) {
	hs := s.stats.HistoryStep()
	if step < hs && !since.Before(now.Add(-s.stats.Window())) {
		if pts, held := mem(since); held {
			res := step
			if step > 0 {
				pts = stats.Downsample(pts, step)
			} else {
				res = s.resolution(since, now)
			}
			return pts, "memory", res, nil
		}
	}
	if s.statsHistory == nil {
		return nil, "history", hs, nil
	}
	pts, err := hist()
	if err != nil {
		return nil, "", 0, err
	}
	res := max(step, hs)
	if res > hs {
		pts = stats.Downsample(pts, res)
	}
	return pts, "history", res, nil
}

func unavailable(format string, args ...any) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: fmt.Sprintf(format, args...)}
}

// statsSubject is what a stats answer is about: a VM or a node.
type statsSubject struct {
	// vmID is empty for a node; nodeID is the VM's node or the node.
	vmID, nodeID string
	// window reads the subject's points in this server's memory from
	// since, and whether this server holds its samples (stats.Collector's
	// VM or Node).
	window func(since time.Time) ([]store.StatPoint, bool)
	// history reads the subject's points in the store (store.StatsRepo's
	// VM or Node).
	history func(ctx context.Context, since, until time.Time) ([]store.StatPoint, error)
	// cpus is the CPU base of a point's cpu_percent.
	cpus func(p store.StatPoint) int
	// note says why an answer from since, out of source, has no points.
	note func(since time.Time, source string) string
}

// serveStats answers GET .../stats?since=&step= about subj.
func (s *Server) serveStats(c echo.Context, subj statsSubject) error {
	ctx := c.Request().Context()
	now := time.Now()
	since, step, err := s.statsQuery(c, now)
	if err != nil {
		return err
	}
	pts, src, res, err := s.points(c, since, now, step, subj.window,
		func() ([]store.StatPoint, error) {
			return subj.history(ctx, since.Truncate(s.stats.HistoryStep()), now)
		})
	if err != nil {
		return err
	}
	out := statsReply{VMID: subj.vmID, NodeID: subj.nodeID, Since: since.UTC(), StepSeconds: res.Seconds(), Source: src, Points: make([]statPoint, len(pts))}
	for i, p := range pts {
		out.Points[i] = statPoint{StatPoint: p, CPUPercent: percent(p.CPUCores, subj.cpus(p))}
	}
	if len(out.Points) == 0 {
		out.Note = subj.note(since, src)
	}
	return c.JSON(http.StatusOK, out)
}

// vmStats: GET /api/vms/{id}/stats?since=&step=; cpu_percent is of the
// VM's vCPUs.
func (s *Server) vmStats(c echo.Context) error {
	if s.stats == nil {
		return unavailable("statistics are not kept by this server")
	}
	v, err := s.svc.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.serveStats(c, statsSubject{
		vmID: v.ID, nodeID: v.NodeID,
		window: func(since time.Time) ([]store.StatPoint, bool) { return s.stats.VM(v.ID, since) },
		history: func(ctx context.Context, since, until time.Time) ([]store.StatPoint, error) {
			return s.statsHistory.VM(ctx, v.ID, since, until)
		},
		cpus: func(p store.StatPoint) int {
			if p.VCPUs > 0 {
				return p.VCPUs
			}
			return int(v.Spec.VCPUs)
		},
		note: func(since time.Time, src string) string { return s.vmStatsNote(c, v, since, src) },
	})
}

// nodeStats: GET /api/nodes/{id}/stats?since=&step=, the sums of the
// node's VMs; cpu_percent is of the host's CPUs.
func (s *Server) nodeStats(c echo.Context) error {
	if s.stats == nil {
		return unavailable("statistics are not kept by this server")
	}
	n, err := s.svc.Node(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.serveStats(c, statsSubject{
		nodeID: n.ID,
		window: func(since time.Time) ([]store.StatPoint, bool) { return s.stats.Node(n.ID, since) },
		history: func(ctx context.Context, since, until time.Time) ([]store.StatPoint, error) {
			return s.statsHistory.Node(ctx, n.ID, since, until)
		},
		cpus: func(store.StatPoint) int { return n.Host.CPUs },
		note: func(since time.Time, src string) string { return s.nodeStatsNote(n, since, src) },
	})
}

func percent(cores float64, cpus int) float64 {
	if cpus <= 0 {
		return 0
	}
	return cores / float64(cpus) * 100
}

// topEntry is one VM of GET /api/stats/top.
type topEntry struct {
	VMID   string `json:"vm_id"`
	Name   string `json:"name"`
	NodeID string `json:"node_id"`
	statPoint
}

// topVMs: GET /api/stats/top?limit=, the VMs that use the most CPU now:
// the latest point of each VM this server holds, and of the others their
// latest step in the history.
func (s *Server) topVMs(c echo.Context) error {
	if s.stats == nil {
		return unavailable("statistics are not kept by this server")
	}
	limit, err := intParam(c, "limit", 10, 1, MaxTopVMs)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := time.Now()
	byVM := map[string]store.VMStatPoint{}
	fresh := max(3*s.stats.Interval(), 30*time.Second)
	for _, l := range s.stats.Top(limit, now.Add(-fresh)) {
		byVM[l.VMID] = store.VMStatPoint{VMID: l.VMID, NodeID: l.NodeID, StatPoint: l.StatPoint}
	}
	if s.statsHistory != nil {
		hist, err := s.statsHistory.Top(ctx, now.Add(-3*s.stats.HistoryStep()), limit)
		if err != nil {
			return err
		}
		for _, h := range hist {
			if _, ok := byVM[h.VMID]; !ok {
				byVM[h.VMID] = h
			}
		}
	}
	list := make([]store.VMStatPoint, 0, len(byVM))
	for _, p := range byVM {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b store.VMStatPoint) int {
		if a.CPUCores != b.CPUCores {
			return cmp.Compare(b.CPUCores, a.CPUCores)
		}
		return cmp.Compare(a.VMID, b.VMID)
	})
	out := make([]topEntry, 0, limit)
	for _, p := range list {
		if len(out) == limit {
			break
		}
		v, err := s.svc.Get(ctx, p.VMID)
		if err != nil {
			continue // deleted meanwhile
		}
		vcpus := p.VCPUs
		if vcpus <= 0 {
			vcpus = int(v.Spec.VCPUs)
		}
		out = append(out, topEntry{VMID: v.ID, Name: v.Name, NodeID: p.NodeID, statPoint: statPoint{StatPoint: p.StatPoint, CPUPercent: percent(p.CPUCores, vcpus)}})
	}
	return c.JSON(http.StatusOK, map[string]any{"vms": out})
}
