package logs

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/internal/wait"
)

// recordOffsets returns the offset of every record of the segment at path.
func recordOffsets(t *testing.T, path string, first uint64) []int64 {
	t.Helper()
	var offs []int64
	res, err := scanSegment(path, first, func(_ Record, off int64) error {
		offs = append(offs, off)
		return nil
	})
	if err != nil || res.torn != nil {
		t.Fatalf("scanning %s: %v, %v", path, err, res.torn)
	}
	return append(offs, res.end)
}

// editFile applies edit to the bytes of the file at path, in place, as
// damage on the disk would.
func editFile(t *testing.T, path string, edit func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolKeepsRecordsAfterDamageInTheLastSegment: bytes of records in
// the middle of the segment being written change on the disk (whatever
// part of the record: payload, checksum, number, length). Opening the
// spool skips the damaged records, logs it at error level with the
// segment and offset, counts them, and keeps every record after them:
// they are read in order, as they were written, and appending goes on.
// Opening it again finds nothing more to repair.
func TestSpoolKeepsRecordsAfterDamageInTheLastSegment(t *testing.T) {
	const total = 30
	cases := []struct {
		name string
		// damage edits the segment's bytes given the offsets of its
		// records (and of its end) and returns the records it made bad.
		damage func(b []byte, offs []int64) []int
	}{
		{"payload", func(b []byte, offs []int64) []int {
			b[offs[10]+recordHeaderSize+3] ^= 0x40
			return []int{10}
		}},
		{"checksum", func(b []byte, offs []int64) []int {
			b[offs[10]+5] ^= 0x01
			return []int{10}
		}},
		{"sequence number", func(b []byte, offs []int64) []int {
			binary.LittleEndian.PutUint64(b[offs[10]+8:], 99)
			return []int{10}
		}},
		{"length grown", func(b []byte, offs []int64) []int {
			binary.LittleEndian.PutUint32(b[offs[10]:], uint32(offs[14]-offs[10]))
			return []int{10}
		}},
		{"length past the end", func(b []byte, offs []int64) []int {
			binary.LittleEndian.PutUint32(b[offs[10]:], 1<<20)
			return []int{10}
		}},
		{"length garbage", func(b []byte, offs []int64) []int {
			binary.LittleEndian.PutUint32(b[offs[10]:], 0xffffffff)
			return []int{10}
		}},
		{"length zero", func(b []byte, offs []int64) []int {
			binary.LittleEndian.PutUint32(b[offs[10]:], 0)
			return []int{10}
		}},
		{"zeros across three records", func(b []byte, offs []int64) []int {
			clear(b[offs[10]+4 : offs[12]+9])
			return []int{10, 11, 12}
		}},
		{"two stretches", func(b []byte, offs []int64) []int {
			b[offs[3]+recordHeaderSize] ^= 0xff
			clear(b[offs[20] : offs[22]+2])
			return []int{3, 20, 21, 22}
		}},
		{"the first record", func(b []byte, offs []int64) []int {
			b[offs[0]+recordHeaderSize] ^= 0xff
			return []int{0}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
			appendN(t, s, "m", 0, total)
			_ = s.Close()
			path := filepath.Join(dir, segmentName(0))
			offs := recordOffsets(t, path, 0)
			clean, _ := os.Stat(path)
			var bad []int
			editFile(t, path, func(b []byte) { bad = tc.damage(b, offs) })

			var logs logBuffer
			s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, Logger: bufLogger(&logs)})
			if fi, _ := os.Stat(path); fi.Size() != clean.Size() {
				t.Errorf("segment is %d bytes after recovery, want %d: nothing after the damage is cut", fi.Size(), clean.Size())
			}
			if got := s.Stats().Damaged; got != uint64(len(bad)) {
				t.Errorf("Stats().Damaged = %d, want %d", got, len(bad))
			}
			log := logs.String()
			if !strings.Contains(log, "[ERROR]") || !strings.Contains(log, "LOG SPOOL DAMAGED") ||
				!strings.Contains(log, "segment="+path) || !strings.Contains(log, fmt.Sprintf("offset=%d", offs[bad[0]])) {
				t.Errorf("the damage is not logged at error level with its segment and offset %d:\n%s", offs[bad[0]], log)
			}
			if strings.Contains(log, "cutting off") {
				t.Errorf("records after the damage were cut off as a torn end:\n%s", log)
			}
			if first := appendN(t, s, "m", total, 2); first != total {
				t.Fatalf("first append after recovery got %d, want %d", first, total)
			}
			check := func(recs []Record) {
				t.Helper()
				if len(recs) != total+2 {
					t.Fatalf("read %d records, want %d", len(recs), total+2)
				}
				isBad := map[int]bool{}
				for _, i := range bad {
					isBad[i] = true
				}
				for i, r := range recs {
					if r.Seq != uint64(i) {
						t.Fatalf("record %d has number %d", i, r.Seq)
					}
					if isBad[i] {
						if r.Tag != damagedTag {
							t.Errorf("damaged record %d reads as tag %d %q, want a filler of tag %d", i, r.Tag, r.Payload, damagedTag)
						}
						continue
					}
					if want := fmt.Sprintf("m-%06d", i); string(r.Payload) != want || r.Tag != byte(i%4) {
						t.Errorf("record %d = tag %d %q, want tag %d %q", i, r.Tag, r.Payload, i%4, want)
					}
				}
			}
			r, _ := s.Reader("a")
			check(readAll(t, r))
			_ = s.Close()

			logs = logBuffer{}
			s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, Logger: bufLogger(&logs)})
			if d := s.Stats().Damaged; d != 0 || strings.Contains(logs.String(), "DAMAGED") {
				t.Errorf("opening the repaired spool again found %d damaged records:\n%s", d, logs.String())
			}
			r, _ = s.Reader("a")
			check(readAll(t, r))
		})
	}
}

// TestSpoolDamageThenTornTail: a damaged record in the middle and a record
// torn by a crash at the end: the damaged one is skipped and what follows
// it kept, and the torn end is still cut off.
func TestSpoolDamageThenTornTail(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
	appendN(t, s, "t", 0, 20)
	_ = s.Close()
	path := filepath.Join(dir, segmentName(0))
	offs := recordOffsets(t, path, 0)
	clean, _ := os.Stat(path)
	torn := appendRecord(nil, 20, 1, []byte("never-acknowledged"))
	editFile(t, path, func(b []byte) { b[offs[5]+recordHeaderSize] ^= 0xff })
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn[:len(torn)-4]); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	var logs logBuffer
	s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, Logger: bufLogger(&logs)})
	if fi, _ := os.Stat(path); fi.Size() != clean.Size() {
		t.Errorf("segment is %d bytes after recovery, want %d (the torn end cut off)", fi.Size(), clean.Size())
	}
	for _, want := range []string{"LOG SPOOL DAMAGED", fmt.Sprintf("offset=%d", offs[5]), "cutting off an incomplete record"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("recovery did not log %q:\n%s", want, logs.String())
		}
	}
	if s.Stats().Damaged != 1 || s.End() != 20 {
		t.Errorf("after recovery: %d damaged, end %d; want 1 and 20", s.Stats().Damaged, s.End())
	}
	r, _ := s.Reader("a")
	recs := readAll(t, r)
	if len(recs) != 20 {
		t.Fatalf("read %d records, want 20", len(recs))
	}
	if recs[5].Tag != damagedTag || string(recs[19].Payload) != "t-000019" {
		t.Errorf("record 5 has tag %d, the last is %q; want a filler and t-000019", recs[5].Tag, recs[19].Payload)
	}
}

// TestSpoolAppendRefusesTheDamagedTag: no caller can write a record that
// would read as a filler of damaged records.
func TestSpoolAppendRefusesTheDamagedTag(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{Consumers: []string{"a"}})
	if _, err := s.Append(context.Background(), []byte{damagedTag}, [][]byte{[]byte("x")}); err == nil {
		t.Fatal("Append took a record with the tag of damaged records")
	}
}

// TestPipelineSkipsAndCountsDamagedEntries: a spooled entry damaged on the
// disk before a sink got it is skipped when the pipeline opens: the sink
// gets every other entry, including those written after the damaged one,
// and the metrics count it (the spool's damaged records, and a drop for the
// sink with reason spool_damaged).
func TestPipelineSkipsAndCountsDamagedEntries(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(SpoolOptions{Dir: dir, Consumers: []string{consumerOfSink("s")}})
	if err != nil {
		t.Fatal(err)
	}
	es := entries("dmg", 20)
	tags := make([]byte, len(es))
	payloads := make([][]byte, len(es))
	for i := range es {
		if err := Prepare(&es[i], time.Now()); err != nil {
			t.Fatal(err)
		}
		tags[i], payloads[i] = tagOf(es[i].Source), encodeEntry(&es[i])
	}
	if _, err := s.Append(context.Background(), tags, payloads); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, filepath.Join(dir, segmentName(0)), func(b []byte) {
		i := strings.Index(string(b), "dmg-0007")
		if i < 0 {
			t.Fatal("the segment does not hold dmg-0007")
		}
		b[i+5] ^= 0x01
	})

	sink := &fakeSink{}
	reg := prometheus.NewRegistry()
	p := openPipeline(t, dir, Options{Sinks: []Sink{{Name: "s", Writer: sink}}, Registerer: reg})
	wait.Until(t, 10*time.Second, "the sink to be done with the spool", func() bool {
		return p.Stats().Lag[consumerOfSink("s")] == 0
	})
	got := sink.delivered()
	if len(got) != 19 {
		t.Fatalf("the sink got %d entries, want 19: %v", len(got), got)
	}
	for i, m := range got {
		want := i
		if i >= 7 {
			want = i + 1
		}
		if m != fmt.Sprintf("dmg-%04d", want) {
			t.Fatalf("entry %d delivered is %s, want dmg-%04d", i, m, want)
		}
	}
	if v := testutil.ToFloat64(p.m.dropped.WithLabelValues(string(sourceOfTag(damagedTag)), "s", DropSpoolDamaged)); v != 1 {
		t.Errorf("dropped{sink=s, reason=%s} = %v, want 1", DropSpoolDamaged, v)
	}
	want := "# HELP quantix_logs_spool_damaged_records_total Log spool records found damaged on disk when the spool was opened, and skipped.\n" +
		"# TYPE quantix_logs_spool_damaged_records_total counter\nquantix_logs_spool_damaged_records_total 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quantix_logs_spool_damaged_records_total"); err != nil {
		t.Error(err)
	}
}
