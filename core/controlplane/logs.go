package controlplane

import (
	"context"
	"fmt"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/core/vmlog"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// Log tail sizes.
const (
	DefaultLogLines = 100
	MaxLogLines     = 10000
)

// LogLine is one line of a log tail: its place in the tail (1 is the
// oldest line returned), its text and its severity.
type LogLine struct {
	N        int
	Text     string
	Severity vmlog.Severity
}

// LogTail is the end of a VM's hypervisor log.
type LogTail struct {
	VM *vm.VM
	// Path is where the log lives on the node.
	Path string
	// Exists is false when the VM has not written a log yet.
	Exists    bool
	SizeBytes int64
	// LastModified is nil when there is no log.
	LastModified *time.Time
	// Truncated is true when the log holds more lines than were returned.
	Truncated bool
	Lines     []LogLine
}

// Logs returns the last lines of a VM's hypervisor log (the QEMU log on
// libvirt), each classified by vmlog.Classify. A VM that has no log yet has an
// empty tail.
func (s *Service) Logs(ctx context.Context, ref string, lines int) (*LogTail, error) {
	if lines < 1 || lines > MaxLogLines {
		return nil, errorf(KindBadRequest, "lines: %d is outside 1..%d", lines, MaxLogLines)
	}
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !s.connectedSoon(ctx, v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is not connected, cannot read the vm's log now", v.Name, nodeName(v))}
	}
	res, err := s.execute(ctx, v.NodeID, nodeapi.Command{Op: agentv1.Op_OP_TAIL_LOG, VMID: v.ID, Lines: lines})
	if err == nil && res.Log == nil {
		err = fmt.Errorf("node %s returned no log", v.NodeID)
	}
	if err != nil {
		return nil, hostError(v, v.NodeID, agentv1.Op_OP_TAIL_LOG, err, "")
	}
	tail := &LogTail{
		VM:        v,
		Path:      res.Log.Path,
		Exists:    res.Log.Exists,
		SizeBytes: res.Log.SizeBytes,
		Truncated: res.Log.Truncated,
		Lines:     make([]LogLine, len(res.Log.Lines)),
	}
	if res.Log.Exists && !res.Log.LastModified.IsZero() {
		t := res.Log.LastModified.UTC()
		tail.LastModified = &t
	}
	for i, text := range res.Log.Lines {
		tail.Lines[i] = LogLine{N: i + 1, Text: text, Severity: vmlog.Classify(text)}
	}
	return tail, nil
}
