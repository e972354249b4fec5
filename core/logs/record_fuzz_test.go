package logs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecordCodec: parseRecord never panics, whatever the bytes and the
// number it expects; what it accepts is exactly what appendRecord writes for
// that record; and what appendRecord writes parses back to the same record,
// followed by anything, while any shorter prefix of it is cut short and
// any other expected number is refused.
func FuzzRecordCodec(f *testing.F) {
	good := appendRecord(nil, 7, 2, []byte("an entry"))
	f.Add(good, uint64(7), uint64(7), byte(2), []byte("an entry"))
	f.Add(good[:10], uint64(7), uint64(0), byte(0), []byte{})
	f.Add(good, uint64(8), uint64(1<<63), byte(damagedTag), bytes.Repeat([]byte{0}, 100))
	f.Add(make([]byte, 64), uint64(0), uint64(1), byte(4), []byte{0xff})
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 0xffffffff), good[4:]...), uint64(7), uint64(42), byte(3), []byte("x"))
	f.Add(append(binary.LittleEndian.AppendUint32(nil, maxRecordPayload), good[4:]...), uint64(7), uint64(42), byte(1), []byte(nil))
	f.Add([]byte{}, uint64(0), ^uint64(0), byte(1), []byte("last number"))
	f.Fuzz(func(t *testing.T, b []byte, want, seq uint64, tag byte, payload []byte) {
		rec, n, err := parseRecord(b, want)
		switch {
		case err == nil:
			if n < recordHeaderSize || n > len(b) || rec.Seq != want {
				t.Fatalf("parseRecord accepted %d of %d bytes as record %d (want %d)", n, len(b), rec.Seq, want)
			}
			if enc := appendRecord(nil, rec.Seq, rec.Tag, rec.Payload); !bytes.Equal(enc, b[:n]) {
				t.Fatalf("parseRecord accepted bytes that appendRecord does not write for that record:\n% x\n% x", b[:n], enc)
			}
		case !errors.Is(err, errShort) && !errors.Is(err, errCorrupt):
			t.Fatalf("parseRecord failed with %v, neither cut short nor corrupt", err)
		}

		if len(payload) > maxRecordPayload {
			return // Append refuses it
		}
		enc := appendRecord(nil, seq, tag, payload)
		if len(enc) != recordSize(len(payload)) {
			t.Fatalf("appendRecord wrote %d bytes for a payload of %d", len(enc), len(payload))
		}
		rec, n, err = parseRecord(append(enc, b...), seq)
		if err != nil {
			t.Fatalf("parsing what appendRecord wrote: %v", err)
		}
		if n != len(enc) || rec.Seq != seq || rec.Tag != tag || !bytes.Equal(rec.Payload, payload) {
			t.Fatalf("round trip: got %d bytes, record %d tag %d %q; want %d bytes, record %d tag %d %q",
				n, rec.Seq, rec.Tag, rec.Payload, len(enc), seq, tag, payload)
		}
		if _, _, err := parseRecord(enc[:len(enc)-1], seq); !errors.Is(err, errShort) {
			t.Fatalf("a record missing its last byte parses as %v, want cut short", err)
		}
		if _, _, err := parseRecord(enc, seq+1); !errors.Is(err, errCorrupt) {
			t.Fatalf("record %d parsed as record %d: %v", seq, seq+1, err)
		}
	})
}

// FuzzSegmentRepair: recovery of a last segment whose bytes were changed
// anywhere (and that may end in anything) never fails nor panics, and
// leaves a segment of whole records numbered one by one: every record
// wholly before the change is kept as written, and repairing it again
// finds nothing to do.
func FuzzSegmentRepair(f *testing.F) {
	f.Add(uint8(30), uint16(200), []byte{0xff}, []byte{})
	f.Add(uint8(30), uint16(200), make([]byte, 80), []byte{})
	f.Add(uint8(10), uint16(8), []byte{0, 0, 0, 1}, appendRecord(nil, 10, 1, []byte("tail")))
	f.Add(uint8(5), uint16(40), appendRecord(nil, 3, 1, []byte("m-000003")), make([]byte, 30))
	f.Add(uint8(20), uint16(300), appendRecord(nil, 900, 1, []byte("far ahead")), []byte("garbage"))
	f.Add(uint8(0), uint16(0), []byte("QXS"), []byte{})
	f.Fuzz(func(t *testing.T, count uint8, at uint16, edit, tail []byte) {
		n := int(count) % 64
		seg := []byte(segmentMagic)
		var ends []int // where each record ends
		for i := range n {
			seg = appendRecord(seg, uint64(i), byte(i%4), []byte(fmt.Sprintf("m-%06d", i)))
			ends = append(ends, len(seg))
		}
		off := int(at) % (len(seg) + 1)
		if len(edit) == 0 {
			off = len(seg)
		}
		if end := off + len(edit); end > len(seg) {
			seg = append(seg, make([]byte, end-len(seg))...)
		}
		copy(seg[off:], edit)
		seg = append(seg, tail...)
		path := filepath.Join(t.TempDir(), segmentName(0))
		if err := os.WriteFile(path, seg, 0o600); err != nil {
			t.Fatal(err)
		}

		res, _, err := repairSegment(path, 0)
		if err != nil {
			t.Fatalf("repairSegment: %v", err)
		}
		if res.end == 0 {
			if off >= len(segmentMagic) && len(edit) > 0 {
				t.Fatalf("the segment header was lost although the change starts at %d", off)
			}
			return
		}
		if err := os.Truncate(path, res.end); err != nil {
			t.Fatal(err)
		}
		var got []Record
		again, err := scanSegment(path, 0, func(r Record, _ int64) error {
			got = append(got, Record{Seq: r.Seq, Tag: r.Tag, Payload: bytes.Clone(r.Payload)})
			return nil
		})
		if err != nil || again.torn != nil || again.end != res.end || again.next != res.next {
			t.Fatalf("the repaired segment scans as %+v, %v; recovery said %+v", again, err, res)
		}
		for i, r := range got {
			if r.Seq != uint64(i) {
				t.Fatalf("record %d of the repaired segment has number %d", i, r.Seq)
			}
		}
		for i, end := range ends {
			if end > off {
				break
			}
			// Wholly before the change: kept as written.
			if i >= len(got) {
				t.Fatalf("record %d, before the change at %d, was cut off (%d records kept)", i, off, len(got))
			}
			if want := fmt.Sprintf("m-%06d", i); string(got[i].Payload) != want || got[i].Tag != byte(i%4) {
				t.Fatalf("record %d, before the change at %d, reads %q tag %d", i, off, got[i].Payload, got[i].Tag)
			}
		}
		if _, found, err := repairSegment(path, 0); err != nil || len(found) > 0 {
			t.Fatalf("repairing the repaired segment: %v, %d damaged stretches", err, len(found))
		}
	})
}
