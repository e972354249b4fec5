package logs

import (
	"context"
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// TestHubPublishesAnEntryOnce: an entry published twice (appended here and
// announced by another server, or appended twice) reaches a live
// subscription once, as long as the hub remembers its id.
func TestHubPublishesAnEntryOnce(t *testing.T) {
	p := &Pipeline{hub: newHub()}
	sub := p.Subscribe(store.LogFilter{}, recentIDs*3)
	defer sub.Close()
	entry := func(i int) logsink.Entry {
		return logsink.Entry{ID: fmt.Sprintf("e%d", i), Level: logsink.LevelInfo, Source: logsink.SourceUI}
	}
	p.hub.publish([]logsink.Entry{entry(1), entry(2)})
	p.PublishStored([]logsink.Entry{entry(2), entry(3), entry(1)})
	p.PublishStored([]logsink.Entry{entry(3)})
	got, _, err := sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if fmt.Sprint(ids) != "[e1 e2 e3]" {
		t.Errorf("got %v, want [e1 e2 e3]", ids)
	}
	// Past recentIDs other entries, an id is forgotten.
	batch := make([]logsink.Entry, recentIDs)
	for i := range batch {
		batch[i] = entry(100 + i)
	}
	p.hub.publish(batch)
	p.hub.publish([]logsink.Entry{entry(1), entry(100 + recentIDs - 1)})
	got, _, err = sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got); n != recentIDs+1 || got[n-1].ID != "e1" {
		t.Errorf("got %d entries ending with %s, want %d ending with e1", n, got[n-1].ID, recentIDs+1)
	}
}
