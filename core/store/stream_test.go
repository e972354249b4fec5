package store

import (
	"slices"
	"strings"
	"testing"
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
