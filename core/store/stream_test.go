package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestLogNotes: the seqs of stored log entries travel in ranges, split into
// payloads PostgreSQL takes, and come back as they were.
func TestLogNotes(t *testing.T) {
	origin := "0b6d2f1e-2d7a-4c1e-9a55-3f1c2b4d5e6f"
	var seqs []int64
	for i := int64(1); i <= 3000; i++ {
		seqs = append(seqs, i*3) // no two adjacent: the longest encoding
	}
	seqs = append(seqs, 20000, 20001, 20002, 20003, 9, 9)
	notes := LogNotes(origin, seqs)
	if len(notes) < 2 {
		t.Fatalf("%d seqs in %d payload(s)", len(seqs), len(notes))
	}
	var got []int64
	for _, n := range notes {
		if len(n) > MaxNotifyPayload {
			t.Errorf("payload of %d bytes", len(n))
		}
		o, s, ok := ParseLogNote(n)
		if !ok || o != origin {
			t.Fatalf("ParseLogNote(%.60q) = %q, %v", n, o, ok)
		}
		got = append(got, s...)
	}
	want := slices.Clone(seqs)
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %d seqs back, want %d", len(got), len(want))
	}
	if !strings.HasSuffix(notes[len(notes)-1], ",20000-20003") {
		t.Errorf("a run is not one range: %q", notes[len(notes)-1][len(notes[len(notes)-1])-30:])
	}
	for _, bad := range []string{"l", "l x", "l x 0", "l x 5-3", "l x a", "l x 1-99999999999", "v 3", "l  1"} {
		if _, _, ok := ParseLogNote(bad); ok {
			t.Errorf("ParseLogNote(%q) accepted", bad)
		}
	}
	if id, ok := ParseVMNote("v 42"); !ok || id != 42 {
		t.Errorf("ParseVMNote(v 42) = %d, %v", id, ok)
	}
	for _, bad := range []string{"v", "v x", "v 0", "l 3"} {
		if _, ok := ParseVMNote(bad); ok {
			t.Errorf("ParseVMNote(%q) accepted", bad)
		}
	}
}

// TestNotifyPositioned: notifications sent together from many goroutines,
// while VM events are appended, each get their own number; listeners get
// them in the order of their numbers, each after the VM event notification
// of exactly the last event id it was given.
func TestNotifyPositioned(t *testing.T) {
	s, _ := openFresh(t, backend{name: dialectPostgres, fresh: freshPostgres})
	st, ok := StreamOf(s)
	if !ok {
		t.Fatal("no stream on PostgreSQL")
	}
	mustCreate(t, s, discoveredVM("np1", "np1", "node-a"))
	appendEvents := func(n int) int64 {
		evs := make([]*vm.Event, n)
		for i := range evs {
			evs[i] = &vm.Event{VMID: "np1", Action: "start", Cause: vm.CauseHost}
		}
		if err := s.Events().AppendMany(ctx, evs); err != nil {
			t.Error(err)
			return 0
		}
		return evs[n-1].ID
	}
	before := appendEvents(5)

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var got []string
	connected := make(chan struct{})
	listened := make(chan error, 1)
	go func() {
		listened <- st.Listen(lctx, ListenHandler{
			Connected: func(context.Context, bool) error {
				close(connected)
				return nil
			},
			Notified: func(_ context.Context, payload string) error {
				mu.Lock()
				got = append(got, payload)
				mu.Unlock()
				return nil
			},
		})
	}()
	<-connected

	const calls = 40
	type result struct{ n, last int64 }
	results := make([]result, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			n, last, err := st.NotifyPositioned(ctx, "m", strconv.Itoa(i))
			if err != nil {
				t.Errorf("NotifyPositioned %d: %v", i, err)
			}
			results[i] = result{n, last}
		})
	}
	for range 20 {
		wg.Go(func() { appendEvents(3) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[int64]bool{}
	for i, r := range results {
		if seen[r.n] {
			t.Errorf("call %d drew number %d, drawn before", i, r.n)
		}
		seen[r.n] = true
		if r.last < before || r.last >= r.n {
			t.Errorf("call %d: number %d, last vm event %d; want at least %d (appended before), below the number", i, r.n, r.last, before)
		}
	}

	var notes []string
	wait.UntilNil(t, 10*time.Second, fmt.Sprintf("%d positioned notifications", calls), func() error {
		mu.Lock()
		defer mu.Unlock()
		notes = notes[:0]
		for _, p := range got {
			if strings.HasPrefix(p, "m ") {
				notes = append(notes, p)
			}
		}
		if len(notes) < calls {
			return fmt.Errorf("%d of them", len(notes))
		}
		return nil
	})
	mu.Lock()
	all := slices.Clone(got)
	mu.Unlock()
	lastV, lastN := before, int64(0)
	for _, p := range all {
		if max, ok := ParseVMNote(p); ok {
			lastV = max
			continue
		}
		f := strings.Fields(p)
		if len(f) != 3 || f[0] != "m" {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		i, _ := strconv.Atoi(f[2])
		if n <= lastN {
			t.Errorf("notification %q after number %d", p, lastN)
		}
		lastN = n
		if results[i].n != n {
			t.Errorf("notification %q: call %d was given number %d", p, i, results[i].n)
		}
		if results[i].last != lastV {
			t.Errorf("notification %q came after the notification of vm event %d, call %d was given %d", p, lastV, i, results[i].last)
		}
	}
	stop()
	if err := <-listened; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Listen: %v", err)
	}

	// Every notification is stored as it was sent; read back after a
	// position, the VM events and the notifications that followed it.
	lastNote, err := st.LastPositioned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lastNote != lastN {
		t.Errorf("LastPositioned = %d, the last notification heard has %d", lastNote, lastN)
	}
	mid := results[calls/2]
	evs, stored, err := st.StreamSince(ctx, mid.last, mid.n, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var wantNotes []int64
	for _, r := range results {
		if r.n > mid.n {
			wantNotes = append(wantNotes, r.n)
		}
	}
	slices.Sort(wantNotes)
	var gotNotes []int64
	for _, nt := range stored {
		gotNotes = append(gotNotes, nt.N)
		i, _ := strconv.Atoi(nt.Payload)
		if nt.Prefix != "m" || results[i].n != nt.N || results[i].last != nt.LastVMEvent {
			t.Errorf("stored %+v; call %d was given number %d after vm event %d", nt, i, results[i].n, results[i].last)
		}
	}
	if !slices.Equal(gotNotes, wantNotes) {
		t.Errorf("notifications after %d.%d: %v, want %v", mid.last, mid.n, gotNotes, wantNotes)
	}
	if len(evs) == 0 || evs[0].ID <= mid.last || !slices.IsSortedFunc(evs, func(a, b *vm.Event) int { return cmp.Compare(a.ID, b.ID) }) {
		t.Errorf("vm events after %d: %d of them, first %v", mid.last, len(evs), evs)
	}
	if _, _, err := st.StreamSince(ctx, 0, 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("StreamSince with limit 0 = %v, want ErrInvalid", err)
	}
}
