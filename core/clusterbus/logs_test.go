package clusterbus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// liveLog reads a live log subscription in the background, counting each
// entry id.
type liveLog struct {
	mu      sync.Mutex
	seen    map[string]int
	dropped int
}

func follow(t testing.TB, p *logs.Pipeline) *liveLog {
	t.Helper()
	sub := p.Subscribe(store.LogFilter{}, 0)
	l := &liveLog{seen: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			entries, dropped, err := sub.Next(ctx)
			if err != nil {
				return
			}
			l.mu.Lock()
			for _, e := range entries {
				l.seen[e.ID]++
			}
			l.dropped += dropped
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		sub.Close()
	})
	return l
}

func (l *liveLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[id]
}

func (l *liveLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// TestLogEntriesReachEveryServer: entries appended on any of three servers
// are stored once, reach the sink of the server that received them (and
// only that one), and are on the live stream of every server exactly once.
// An entry that reaches two servers (a node resending its QEMU lines after
// it moved) is stored once and on each stream once.
func TestLogEntriesReachEveryServer(t *testing.T) {
	srv := cluster(t, 3, true)
	live := []*liveLog{follow(t, srv[0].pipe), follow(t, srv[1].pipe), follow(t, srv[2].pipe)}
	ctx := context.Background()
	var ids [][]string
	for i, s := range srv {
		var mine []string
		for batch := range 4 {
			entries := make([]logsink.Entry, 30)
			for j := range entries {
				entries[j] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Message: fmt.Sprintf("server %d batch %d line %d", i, batch, j)}
			}
			if err := s.pipe.Append(ctx, entries); err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				mine = append(mine, e.ID)
			}
		}
		ids = append(ids, mine)
	}
	// The same QEMU line reaching servers 1 and 2.
	dup := logsink.Entry{ID: "0190b0c4-7d3a-7c2e-8f00-000000000001", Level: logsink.LevelInfo, Source: logsink.SourceQEMU, Message: "twice", Timestamp: time.Now()}
	for _, s := range srv[1:] {
		if err := s.pipe.Append(ctx, []logsink.Entry{dup}); err != nil {
			t.Fatal(err)
		}
	}
	const total = 3*4*30 + 1
	for i, l := range live {
		wait.Until(t, 20*time.Second, fmt.Sprintf("every entry on the live stream of server %d", i), func() bool { return l.total() == total })
	}
	for i, s := range srv {
		for _, id := range ids[i] {
			wait.Until(t, 20*time.Second, "the entry at the sink of the server that received it", func() bool { return s.sink.count(id) >= 1 })
			for j, other := range srv {
				if j != i && other.sink.count(id) != 0 {
					t.Fatalf("entry %s received by server %d was sent to server %d's sink too", id, i, j)
				}
			}
		}
	}
	n, err := srv[0].st.Logs().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Errorf("%d entries stored, want %d", n, total)
	}
	for i, l := range live {
		l.mu.Lock()
		for id, c := range l.seen {
			if c != 1 {
				t.Errorf("server %d's live stream had entry %s %d times", i, id, c)
			}
		}
		if l.dropped != 0 {
			t.Errorf("server %d's live stream dropped %d", i, l.dropped)
		}
		l.mu.Unlock()
	}
}

// TestLogListenerReconnect: the listener of server 1 terminated again and
// again while server 0 stores log entries: server 1 reads back the entries
// stored while it could not hear, so every entry is on its live stream
// exactly once, and none stored before it listened is.
func TestLogListenerReconnect(t *testing.T) {
	srv := cluster(t, 2, true)
	ctx := context.Background()
	live := follow(t, srv[1].pipe)
	stop := killListener(t, srv[1])
	var ids []string
	for batch := range 60 {
		entries := make([]logsink.Entry, 10)
		for j := range entries {
			entries[j] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Message: fmt.Sprintf("batch %d line %d", batch, j)}
		}
		if err := srv[0].pipe.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		// Let each batch be stored (and announced) before the next one.
		wait.UntilNil(t, 10*time.Second, "the batch stored", func() error {
			n, err := srv[0].st.Logs().Count(ctx)
			if err != nil {
				return err
			}
			if n < int64(len(ids)) {
				return fmt.Errorf("%d of %d stored", n, len(ids))
			}
			return nil
		})
	}
	n := stop()
	if n == 0 {
		t.Fatal("the listener was never terminated")
	}
	wait.Until(t, 20*time.Second, "every entry on server 1's live stream", func() bool { return live.total() >= len(ids) })
	live.mu.Lock()
	defer live.mu.Unlock()
	for _, id := range ids {
		if c := live.seen[id]; c != 1 {
			t.Errorf("entry %s on server 1's live stream %d times, want once", id, c)
		}
	}
	if len(live.seen) != len(ids) {
		t.Errorf("%d entries on server 1's live stream, want %d", len(live.seen), len(ids))
	}
	t.Logf("%d entries, listener terminated %d times", len(ids), n)
}

// TestLogEntriesReachLateSubscriber: a server with no live subscriber
// reads nothing back; a subscription made on it later gets every entry
// another server stores from then on.
func TestLogEntriesReachLateSubscriber(t *testing.T) {
	srv := cluster(t, 2, true)
	ctx := context.Background()
	appendLines := func(what string) []string {
		entries := make([]logsink.Entry, 20)
		for j := range entries {
			entries[j] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Message: fmt.Sprintf("%s line %d", what, j)}
		}
		if err := srv[0].pipe.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(entries))
		for j, e := range entries {
			ids[j] = e.ID
		}
		return ids
	}
	appendLines("before any subscriber")
	wait.UntilNil(t, 20*time.Second, "the first entries stored", func() error {
		if n, err := srv[0].st.Logs().Count(ctx); err != nil || n != 20 {
			return fmt.Errorf("%d entries stored (%v), want 20", n, err)
		}
		return nil
	})
	if srv[1].pipe.HasLiveSubscribers() {
		t.Fatal("server 1 has a live subscriber before any subscription was made")
	}
	live := follow(t, srv[1].pipe)
	if !srv[1].pipe.HasLiveSubscribers() {
		t.Fatal("server 1 has no live subscriber after Subscribe")
	}
	later := appendLines("after the subscription")
	for _, id := range later {
		wait.Until(t, 20*time.Second, "an entry stored after the subscription on server 1's live stream", func() bool { return live.count(id) == 1 })
	}
}
