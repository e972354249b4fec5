package api

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/vm"
)

// The notes of a stats answer without points. The server learns neither
// whether a node's backend offers statistics nor whether its agent has them
// turned off: it only sees samples come or not, so a node that sent none
// gets a note naming every reason.

// vmStatsNote says why the answer about VM v from since, out of src, has no
// points.
func (s *Server) vmStatsNote(c echo.Context, v *vm.VM, since time.Time, src string) string {
	if v.NodeID == "" {
		return "the VM is on no node: a VM's statistics come from the agent of its node"
	}
	n, err := s.svc.Node(c.Request().Context(), v.NodeID)
	if err != nil {
		return "the VM's node is not in the inventory: a VM's statistics come from the agent of its node"
	}
	if note := nodeDownNote(n); note != "" {
		return note
	}
	if v.State != vm.StateRunning {
		return fmt.Sprintf("the VM is %s, not running: its points start one sampling interval after it runs", v.State)
	}
	_, nodeHeld := s.stats.Node(n.ID, since)
	if !nodeHeld {
		return s.nothingFromNote(n, src)
	}
	if _, vmHeld := s.stats.VM(v.ID, since); !vmHeld {
		return fmt.Sprintf("node %q sends statistics, but none of this VM yet: its first sample comes within one %s of its start", n.Name, s.intervalText())
	}
	if src == "history" {
		return s.historyNote()
	}
	return fmt.Sprintf("no two samples of this VM since %s yet: a point is the rate between two consecutive samples, one %s apart", since.UTC().Format(time.RFC3339), s.intervalText())
}

// nodeStatsNote says why the answer about node n from since, out of src,
// has no points.
func (s *Server) nodeStatsNote(n *controlplane.NodeInfo, since time.Time, src string) string {
	if note := nodeDownNote(n); note != "" {
		return note
	}
	if _, held := s.stats.Node(n.ID, since); !held {
		return s.nothingFromNote(n, src)
	}
	if src == "history" {
		return s.historyNote()
	}
	return fmt.Sprintf("node %q sends statistics, but no two samples of a running VM since %s yet: the node's points are the sums of its running VMs' points, each the rate between two samples one %s apart",
		n.Name, since.UTC().Format(time.RFC3339), s.intervalText())
}

// nodeDownNote is the note of a node no agent serves now; empty when one
// does.
func nodeDownNote(n *controlplane.NodeInfo) string {
	if n.Connected {
		return ""
	}
	return fmt.Sprintf("node %q is not connected (%s): statistics come from the agent of a connected node", n.Name, n.State)
}

// nothingFromNote is the note of a connected node none of whose samples
// this server holds.
func (s *Server) nothingFromNote(n *controlplane.NodeInfo, src string) string {
	note := fmt.Sprintf("no statistics have come from node %q to this server. Either its backend plugin does not offer them "+
		"(backend API version 1, or no %q capability), or its agent has them turned off (agent.stats = false), "+
		"or its first samples have not come yet (the agent samples every %s); the server is not told which",
		n.Name, "stats", s.intervalText())
	if src == "history" {
		note += fmt.Sprintf(". When another server holds the node's agent, its points reach this server through the history, one per server.stats.history_step (%s)", s.stats.HistoryStep())
	}
	return note
}

// historyNote is the note of an empty history answer for a node whose
// samples this server holds.
func (s *Server) historyNote() string {
	return fmt.Sprintf("no history step written yet for this period: the history holds one averaged point per server.stats.history_step (%s), written once the step has ended", s.stats.HistoryStep())
}

// intervalText names the agents' sampling interval, with its value as
// this server saw it.
func (s *Server) intervalText() string {
	if iv := s.stats.Interval(); iv > 0 {
		return fmt.Sprintf("agent.stats_interval (%s)", iv)
	}
	return "agent.stats_interval (10s by default)"
}
