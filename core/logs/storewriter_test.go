package logs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// failingRepo is a LogRepo that refuses entries whose message says
// "poison" as the store refuses values it cannot take (store.ErrInvalid),
// fails those saying "flaky" as a database that went away does, and
// everything while down.
type failingRepo struct {
	store.LogRepo
	down   bool
	stored []string
}

func (r *failingRepo) Insert(_ context.Context, es []logsink.Entry) (int, error) {
	if r.down {
		return 0, errors.New("connection refused")
	}
	for _, e := range es {
		if strings.Contains(e.Message, "poison") {
			return 0, fmt.Errorf("%w: value too long", store.ErrInvalid)
		}
		if strings.Contains(e.Message, "flaky") {
			return 0, errors.New("connection reset by peer")
		}
	}
	for _, e := range es {
		r.stored = append(r.stored, e.Message)
	}
	return len(es), nil
}

func TestStoreWriterIsolatesBadEntries(t *testing.T) {
	es := entries("w", 5)
	es[2].Message = "poison"
	repo := &failingRepo{}
	res, err := storeWriter{repo: repo}.Write(context.Background(), es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		want := logsink.Delivered
		if i == 2 {
			want = logsink.Permanent
		}
		if r.Outcome != want {
			t.Errorf("result %d: %s, want %s", i, r, want)
		}
	}
	if len(repo.stored) != 4 {
		t.Errorf("stored %v, want the 4 good entries", repo.stored)
	}

	repo = &failingRepo{down: true}
	res, _ = storeWriter{repo: repo}.Write(context.Background(), es)
	for i, r := range res {
		if r.Outcome != logsink.Retryable {
			t.Errorf("database down, result %d: %s, want retryable", i, r)
		}
	}

	// A failure that may pass is never a refusal, even when it hits one
	// entry of a batch the store refused for another one.
	es[3].Message = "flaky"
	repo = &failingRepo{}
	res, _ = storeWriter{repo: repo}.Write(context.Background(), es)
	want := []logsink.Outcome{logsink.Delivered, logsink.Delivered, logsink.Permanent, logsink.Retryable, logsink.Delivered}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("poison and flaky, result %d: %s, want %s", i, r, want[i])
		}
	}
	res, _ = storeWriter{repo: &failingRepo{}}.Write(context.Background(), es[3:4])
	if res[0].Outcome != logsink.Retryable {
		t.Errorf("a flaky entry alone: %s, want retryable", res[0])
	}
	res, _ = storeWriter{repo: &failingRepo{}}.Write(context.Background(), es[2:3])
	if res[0].Outcome != logsink.Permanent {
		t.Errorf("a poison entry alone: %s, want refused for good", res[0])
	}
}

// TestPipelineStoreRetention: the pipeline prunes the built-in store by
// count.
func TestPipelineStoreRetention(t *testing.T) {
	st := openTestStore(t)
	p := openPipeline(t, t.TempDir(), Options{Store: st.Logs(), Retention: Retention{MaxEntries: 30, Interval: 20 * time.Millisecond}})
	mustAppend(t, p, entries("k", 100))
	wait.Until(t, settle, "the store to be pruned to 30 entries", func() bool { return storeCount(t, st) == 30 })
	page, err := st.Logs().Query(context.Background(), store.LogQuery{Limit: 1})
	if err != nil || page.Entries[0].Message != "k-0099" {
		t.Fatalf("newest kept entry: %+v, %v", page.Entries, err)
	}
}

// TestPipelineRetentionByLeader: with Retention.ByLeader the pipeline does
// not prune on its own; RunRetention does, until its ctx ends.
func TestPipelineRetentionByLeader(t *testing.T) {
	st := openTestStore(t)
	p := openPipeline(t, t.TempDir(), Options{Store: st.Logs(), Retention: Retention{MaxEntries: 30, Interval: 20 * time.Millisecond, ByLeader: true}})
	mustAppend(t, p, entries("k", 100))
	wait.Until(t, settle, "every entry stored", func() bool { return storeCount(t, st) == 100 })
	wait.Stays(t, 100*time.Millisecond, "no pruning without the duty", func() bool { return storeCount(t, st) == 100 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.RunRetention(ctx, st)
	}()
	wait.Until(t, settle, "the store to be pruned to 30 entries", func() bool { return storeCount(t, st) == 30 })
	cancel()
	<-done
	mustAppend(t, p, entries("m", 10))
	wait.Until(t, settle, "new entries stored", func() bool { return storeCount(t, st) == 40 })
	wait.Stays(t, 100*time.Millisecond, "no pruning after the duty ended", func() bool { return storeCount(t, st) == 40 })
}

// TestRetentionFenced: RunRetention under the context of a leader that a
// successor has deposed removes nothing.
func TestRetentionFenced(t *testing.T) {
	st := openTestStore(t)
	p := openPipeline(t, t.TempDir(), Options{Store: st.Logs(), Retention: Retention{MaxEntries: 30, Interval: 10 * time.Millisecond, ByLeader: true}})
	mustAppend(t, p, entries("k", 100))
	wait.Until(t, settle, "every entry stored", func() bool { return storeCount(t, st) == 100 })
	bg := context.Background()
	old, _, err := st.Cluster().Acquire(bg, "server-a", 0, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, settle, "the successor's lease", func() bool {
		_, ok, err := st.Cluster().Acquire(bg, "server-b", 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	ctx, cancel := context.WithCancel(store.WithFence(bg, old.Epoch))
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.RunRetention(ctx, st)
	}()
	wait.Stays(t, 150*time.Millisecond, "nothing pruned by the deposed leader", func() bool { return storeCount(t, st) == 100 })
	cancel()
	<-done
}
