package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// System source tuning: the queue between the daemon's loggers and the
// spool, and how entries are grouped into one Append.
const (
	systemQueue      = 8192
	systemBatch      = 512
	systemBatchWait  = 50 * time.Millisecond
	systemAppendWait = 10 * time.Second
)

// SystemSource feeds the daemon's own hclog output into the pipeline as
// entries of source "system": register it on the daemon's
// hclog.InterceptLogger. Accept never blocks the logging goroutine: lines
// go through a bounded queue to a goroutine that appends them in batches;
// when the queue is full a line is counted as rejected (overflow) instead.
type SystemSource struct {
	p        *Pipeline
	minLevel hclog.Level
	queue    chan logsink.Entry
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	failing bool
}

var _ hclog.SinkAdapter = (*SystemSource)(nil)

// NewSystemSource starts a system source taking lines at minLevel and
// above (info in the daemon). Close it before closing the pipeline.
func (p *Pipeline) NewSystemSource(minLevel hclog.Level) *SystemSource {
	s := &SystemSource{p: p, minLevel: minLevel, queue: make(chan logsink.Entry, systemQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

// Accept takes one log line.
func (s *SystemSource) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < s.minLevel || level == hclog.Off {
		return
	}
	e := systemEntry(name, level, msg, args)
	select {
	case s.queue <- e:
	default:
		s.p.m.Rejected(logsink.SourceSystem, RejectOverflow, 1)
	}
}

// run appends queued lines in batches until Close, then what is left.
func (s *SystemSource) run() {
	defer close(s.done)
	batch := make([]logsink.Entry, 0, systemBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), systemAppendWait)
		err := s.p.Append(ctx, batch)
		cancel()
		s.noteResult(err, len(batch))
		batch = make([]logsink.Entry, 0, systemBatch)
	}
	for {
		select {
		case e := <-s.queue:
			if len(batch) == 0 {
				timer.Reset(systemBatchWait)
			}
			batch = append(batch, e)
			if len(batch) == systemBatch {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		case <-s.stop:
			timer.Stop()
			for {
				select {
				case e := <-s.queue:
					batch = append(batch, e)
					if len(batch) == systemBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// noteResult logs when appending starts or stops failing; a log line per
// failure would come back here as an entry.
func (s *SystemSource) noteResult(err error, n int) {
	s.mu.Lock()
	was := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	switch {
	case err != nil && !was && !errors.Is(err, ErrClosed):
		s.p.log.Error("the daemon's log cannot be added to the log pipeline; its lines are dropped until it can", "entries", n, "error", err)
	case err == nil && was:
		s.p.log.Info("the daemon's log reaches the log pipeline again")
	}
}

// Close appends what is queued and stops. Lines accepted afterwards are
// dropped.
func (s *SystemSource) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// systemEntry makes the entry of one log line: the logger's name and the
// line's key/value pairs go to fields, vm_id, node_id and request_id to
// their own fields.
func systemEntry(name string, level hclog.Level, msg string, args []any) logsink.Entry {
	e := logsink.Entry{
		Timestamp: time.Now(),
		Level:     levelOf(level),
		Source:    logsink.SourceSystem,
		Component: componentOf(name),
		Message:   strings.ToValidUTF8(msg, "\uFFFD"),
	}
	fields := map[string]any{}
	if name != "" {
		fields["logger"] = name
	}
	for i := 0; i < len(args); i += 2 {
		key := fmt.Sprint(args[i])
		var val any = "(missing)"
		if i+1 < len(args) {
			val = fieldValue(args[i+1])
		}
		if str, ok := val.(string); ok {
			str = strings.ToValidUTF8(str, "\uFFFD")
			switch key {
			case "vm_id":
				e.VMID = str
				continue
			case "node_id":
				e.NodeID = str
				continue
			case "request_id":
				e.CorrelationID = str
				continue
			}
		}
		fields[key] = val
	}
	if len(fields) > 0 {
		if b, err := json.Marshal(fields); err == nil {
			e.Fields = b
		}
	}
	return e
}

// fieldValue turns a log argument into a JSON-friendly value.
func fieldValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case error:
		return x.Error()
	case time.Duration:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		return fmt.Sprintf(fmt.Sprint(x[0]), x[1:]...)
	}
	if b, err := json.Marshal(v); err == nil && json.Valid(b) {
		return json.RawMessage(b)
	}
	return fmt.Sprint(v)
}

// levelOf maps hclog levels to entry levels: trace is debug, anything
// above error is error.
func levelOf(l hclog.Level) logsink.Level {
	switch {
	case l <= hclog.Debug:
		return logsink.LevelDebug
	case l == hclog.Info:
		return logsink.LevelInfo
	case l == hclog.Warn:
		return logsink.LevelWarn
	}
	return logsink.LevelError
}

// componentOf names the component of a logger: the agent's lines are about
// nodes, the control plane's about VMs, the pipeline's about logs; the
// rest is system.
func componentOf(name string) logsink.Component {
	for _, part := range strings.Split(name, ".") {
		switch part {
		case "agent":
			return logsink.ComponentNode
		case "controlplane", "reconciler":
			return logsink.ComponentVM
		case "logs":
			return logsink.ComponentLogs
		}
	}
	return logsink.ComponentSystem
}
