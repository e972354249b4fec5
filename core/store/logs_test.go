package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// logEntry makes a valid entry; i orders the timestamps.
func logEntry(i int, base time.Time) logsink.Entry {
	levels := logsink.Levels
	sources := logsink.Sources
	return logsink.Entry{
		ID:            fmt.Sprintf("e-%06d", i),
		Timestamp:     base.Add(time.Duration(i) * time.Millisecond),
		Level:         levels[i%len(levels)],
		Source:        sources[i%len(sources)],
		Component:     logsink.Components[i%len(logsink.Components)],
		Message:       fmt.Sprintf("message %d", i),
		VMID:          fmt.Sprintf("vm-%d", i%5),
		NodeID:        fmt.Sprintf("node-%d", i%3),
		SessionID:     fmt.Sprintf("s-%d", i%7),
		CorrelationID: fmt.Sprintf("c-%d", i%11),
		UserAction:    i%2 == 0,
	}
}

func insertLogs(t *testing.T, s *sqlStore, entries []logsink.Entry) {
	t.Helper()
	n, err := s.Logs().Insert(context.Background(), entries)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if n != len(entries) {
		t.Fatalf("Insert stored %d of %d new entries", n, len(entries))
	}
}

func TestLogsInsertRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		base := time.Date(2026, 1, 18, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
		e := logsink.Entry{
			ID: "rt-1", Timestamp: base, Level: logsink.LevelWarn, Source: logsink.SourceUI, Component: logsink.ComponentVM,
			Message: "line one\nline \"two\", ünïcode \x00 nul", Fields: json.RawMessage(`{"a":1,"b":"x"}`),
			VMID: "vm-rt", NodeID: "node-rt", UserID: "u-rt", SessionID: "s-rt", CorrelationID: "c-rt",
			Action: "button.click", Target: "start", UserAction: true,
		}
		insertLogs(t, s, []logsink.Entry{e})
		// At least once: the same id again stores nothing.
		if n, err := s.Logs().Insert(ctx, []logsink.Entry{e, logEntry(1, base)}); err != nil || n != 1 {
			t.Fatalf("Insert with a stored id: %d new, %v; want 1, nil", n, err)
		}
		page, err := s.Logs().Query(ctx, LogQuery{LogFilter: LogFilter{VMID: "vm-rt"}})
		if err != nil || len(page.Entries) != 1 {
			t.Fatalf("Query: %+v, %v", page, err)
		}
		got := page.Entries[0]
		want := e
		want.Timestamp = base.UTC().Truncate(time.Microsecond)
		if b.name == dialectPostgres {
			want.Message = strings.ReplaceAll(want.Message, "\x00", "\uFFFD")
		}
		if !got.Timestamp.Equal(want.Timestamp) || got.Timestamp.Location() != time.UTC {
			t.Errorf("timestamp %v, want %v in UTC", got.Timestamp, want.Timestamp)
		}
		got.Timestamp, want.Timestamp = time.Time{}, time.Time{}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("stored entry\n got %s\nwant %s", gj, wj)
		}
		if n, err := s.Logs().Count(ctx); err != nil || n != 2 {
			t.Errorf("Count: %d, %v; want 2", n, err)
		}
	})
}

func TestLogsQueryFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var all []logsink.Entry
		for i := range 200 {
			all = append(all, logEntry(i, base))
		}
		all[42].Message = "Disk 100% FULL_now"
		all[43].Target = "the disk button"
		insertLogs(t, s, all)
		yes := true
		cases := []struct {
			name string
			f    LogFilter
		}{
			{"none", LogFilter{}},
			{"min level warn", LogFilter{MinLevel: logsink.LevelWarn}},
			{"min level debug", LogFilter{MinLevel: logsink.LevelDebug}},
			{"source", LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}},
			{"two sources", LogFilter{Sources: []logsink.Source{logsink.SourceAudit, logsink.SourceQEMU}}},
			{"component", LogFilter{Components: []logsink.Component{logsink.ComponentNetwork}}},
			{"vm", LogFilter{VMID: "vm-3"}},
			{"node", LogFilter{NodeID: "node-2"}},
			{"correlation", LogFilter{CorrelationID: "c-4"}},
			{"session", LogFilter{SessionID: "s-6"}},
			{"user action", LogFilter{UserAction: &yes}},
			{"text, case and wildcards literal", LogFilter{Text: "100% full_"}},
			{"text in target", LogFilter{Text: "DISK"}},
			{"text matching nothing", LogFilter{Text: "%"}},
			{"since until", LogFilter{Since: base.Add(50 * time.Millisecond), Until: base.Add(60 * time.Millisecond)}},
			{"combined", LogFilter{VMID: "vm-1", MinLevel: logsink.LevelInfo, Sources: []logsink.Source{logsink.SourceAudit}}},
		}
		for _, tc := range cases {
			var want []string
			for i := len(all) - 1; i >= 0; i-- {
				if matchForTest(&tc.f, &all[i]) {
					want = append(want, all[i].ID)
				}
			}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				page, err := s.Logs().Query(ctx, LogQuery{LogFilter: tc.f, Limit: 7, Cursor: cursor})
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				for _, e := range page.Entries {
					got = append(got, e.ID)
				}
				if page.HasMore != (page.NextCursor != "") {
					t.Fatalf("%s: has_more %v with next_cursor %q", tc.name, page.HasMore, page.NextCursor)
				}
				if !page.HasMore {
					break
				}
				cursor = page.NextCursor
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: got %d entries %v\nwant %d %v", tc.name, len(got), got, len(want), want)
			}
		}
		page, err := s.Logs().Query(ctx, LogQuery{Limit: 3, Ascending: true})
		if err != nil || len(page.Entries) != 3 || page.Entries[0].ID != "e-000000" {
			t.Fatalf("ascending: %+v, %v", page, err)
		}
		page, err = s.Logs().Query(ctx, LogQuery{Limit: 3, Ascending: true, Cursor: page.NextCursor})
		if err != nil || page.Entries[0].ID != "e-000003" {
			t.Fatalf("ascending second page: %+v, %v", page, err)
		}
		for _, bad := range []LogQuery{{Limit: -1}, {Limit: 1001}, {Cursor: "!!"}, {LogFilter: LogFilter{MinLevel: "loud"}}} {
			if _, err := s.Logs().Query(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("Query(%+v): %v, want ErrInvalid", bad, err)
			}
		}
	})
}

// matchForTest is the filter semantics written out plainly.
func matchForTest(f *LogFilter, e *logsink.Entry) bool {
	if f.MinLevel != "" && e.Level.Rank() < f.MinLevel.Rank() {
		return false
	}
	in := func(n int, eq func(int) bool) bool {
		if n == 0 {
			return true
		}
		for i := range n {
			if eq(i) {
				return true
			}
		}
		return false
	}
	if !in(len(f.Sources), func(i int) bool { return f.Sources[i] == e.Source }) ||
		!in(len(f.Components), func(i int) bool { return f.Components[i] == e.Component }) {
		return false
	}
	for _, p := range [][2]string{{f.VMID, e.VMID}, {f.NodeID, e.NodeID}, {f.CorrelationID, e.CorrelationID}, {f.SessionID, e.SessionID}} {
		if p[0] != "" && p[0] != p[1] {
			return false
		}
	}
	if f.UserAction != nil && *f.UserAction != e.UserAction {
		return false
	}
	if f.Text != "" {
		t := strings.ToLower(f.Text)
		if !strings.Contains(strings.ToLower(e.Message), t) && !strings.Contains(strings.ToLower(e.Action), t) && !strings.Contains(strings.ToLower(e.Target), t) {
			return false
		}
	}
	if !f.Since.IsZero() && e.Timestamp.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Timestamp.Before(f.Until) {
		return false
	}
	return true
}

func TestLogsPrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		base := time.Now().Add(-time.Hour)
		var all []logsink.Entry
		for i := range 120 {
			all = append(all, logEntry(i, base.Add(time.Duration(i)*time.Second)))
		}
		insertLogs(t, s, all)
		// Entries 0..19 are older than base+20s (plus their millisecond).
		n, err := s.Logs().Prune(ctx, base.Add(20*time.Second+20*time.Millisecond), 0)
		if err != nil || n != 20 {
			t.Fatalf("Prune by age: %d, %v; want 20", n, err)
		}
		n, err = s.Logs().Prune(ctx, time.Time{}, 30)
		if err != nil || n != 70 {
			t.Fatalf("Prune by count: %d, %v; want 70", n, err)
		}
		page, err := s.Logs().Query(ctx, LogQuery{Limit: 1000})
		if err != nil || len(page.Entries) != 30 || page.Entries[0].ID != "e-000119" || page.Entries[29].ID != "e-000090" {
			t.Fatalf("after pruning: %d entries from %s, %v", len(page.Entries), page.Entries[0].ID, err)
		}
		if n, err := s.Logs().Prune(ctx, base, 30); err != nil || n != 0 {
			t.Fatalf("Prune with nothing to do: %d, %v", n, err)
		}
	})
}

func TestLogsInsertRejectsUnstorable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		_, err := s.Logs().Insert(context.Background(), []logsink.Entry{{ID: "", Level: logsink.LevelInfo}})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("Insert of an entry without id: %v, want ErrInvalid", err)
		}
	})
}
