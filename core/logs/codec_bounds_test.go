package logs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// TestEntryCodecKeepsEveryTime: a timestamp comes back from the spool
// exactly, whatever its year; Unix nanoseconds, which the first version of
// the payload held, turned 9999-12-31 into 1816-03-30 and 1677 into 2262.
func TestEntryCodecKeepsEveryTime(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 145224191, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854775808, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(-4000, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 18, 10, 0, 0, 123456000, time.UTC),
		time.Unix(1<<62, 999999999).UTC(),
		{},
	} {
		e := logsink.Entry{ID: "t", Timestamp: ts, Level: logsink.LevelInfo, Source: logsink.SourceUI, Message: "m"}
		got, err := decodeEntry(encodeEntry(&e))
		if err != nil {
			t.Fatalf("%s: %v", ts, err)
		}
		if !got.Timestamp.Equal(ts) || !reflect.DeepEqual(got, e) {
			t.Errorf("stored %s, read back %s", ts.Format(time.RFC3339Nano), got.Timestamp.Format(time.RFC3339Nano))
		}
	}
	// A time in another zone comes back as the same instant in UTC.
	paris := time.FixedZone("CET", 3600)
	e := logsink.Entry{ID: "z", Timestamp: time.Date(9999, 12, 31, 23, 0, 0, 0, paris), Level: logsink.LevelInfo, Source: logsink.SourceUI}
	got, err := decodeEntry(encodeEntry(&e))
	if err != nil || !got.Timestamp.Equal(e.Timestamp) || got.Timestamp.Location() != time.UTC {
		t.Errorf("zoned time: %v, %v", got.Timestamp, err)
	}
}

// v1Payload is an entry as the first version of the codec wrote it.
func v1Payload(e *logsink.Entry) []byte {
	b := []byte{1}
	b = binary.AppendVarint(b, e.Timestamp.UnixNano())
	var flags byte
	if e.UserAction {
		flags = 1
	}
	b = append(b, flags)
	for _, s := range entryStrings(e) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// TestEntryCodecReadsVersion1: records spooled before the timestamp
// changed form are still delivered.
func TestEntryCodecReadsVersion1(t *testing.T) {
	e := logsink.Entry{ID: "old", Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 123456000, time.UTC), Level: logsink.LevelWarn,
		Source: logsink.SourceQEMU, Message: "m", Fields: json.RawMessage(`{"a":1}`), VMID: "vm", UserAction: true}
	got, err := decodeEntry(v1Payload(&e))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("version 1:\n got %+v\nwant %+v", got, e)
	}
}

// TestEntryCodecRefusesBadTimestamps: a payload whose timestamp is not one
// is refused, not read as some other time.
func TestEntryCodecRefusesBadTimestamps(t *testing.T) {
	e := logsink.Entry{ID: "x", Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 0, time.UTC), Level: logsink.LevelInfo, Source: logsink.SourceUI, Message: "m"}
	good := encodeEntry(&e)
	tsLen := int(good[1])
	rest := good[2+tsLen:]
	with := func(ts []byte) []byte {
		b := []byte{entryCodecVersion}
		b = binary.AppendUvarint(b, uint64(len(ts)))
		b = append(b, ts...)
		return append(b, rest...)
	}
	overflow := append([]byte{}, good[2:2+tsLen]...)
	copy(overflow[9:13], []byte{0x41, 0x30, 0x30, 0x30}) // nanoseconds 1,093,677,104
	zoned, _ := e.Timestamp.In(time.FixedZone("CET", 3600)).MarshalBinary()
	bad := map[string][]byte{
		"nanoseconds past a second": with(overflow),
		"not in UTC":                with(zoned),
		"empty":                     with(nil),
		"garbage":                   with([]byte{0xff, 1, 2, 3}),
		"cut short":                 with(good[2 : 2+tsLen-1]),
		"too long":                  with(make([]byte, maxTimestampBytes+1)),
		"length overrun":            append([]byte{entryCodecVersion, 20}, good[2:8]...),
	}
	for name, b := range bad {
		if _, err := decodeEntry(b); !errors.Is(err, errBadPayload) {
			t.Errorf("%s: %v, want errBadPayload", name, err)
		}
	}
}

// FuzzEntryCodec: any bytes decode or are refused without a panic, and
// what decodes is encoded and read back unchanged. The seeds run with go
// test.
func FuzzEntryCodec(f *testing.F) {
	full := logsink.Entry{
		ID: "0190-x", Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 123456000, time.UTC), Level: logsink.LevelWarn,
		Source: logsink.SourceUI, Component: logsink.ComponentVM, Message: "two\nlines, ünïcode \x00 nul",
		Fields: json.RawMessage(`{"a":[1,2]}`), VMID: "vm", NodeID: "node", UserID: "u", SessionID: "s",
		CorrelationID: "c", Action: "button.click", Target: "t", UserAction: true,
	}
	far := logsink.Entry{ID: "far", Timestamp: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), Level: logsink.LevelInfo, Source: logsink.SourceUI}
	f.Add(encodeEntry(&full))
	f.Add(encodeEntry(&far))
	f.Add(v1Payload(&full))
	f.Add([]byte{entryCodecVersion, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			if !errors.Is(err, errBadPayload) {
				t.Fatalf("refused with %v, not errBadPayload", err)
			}
			return
		}
		again, err := decodeEntry(encodeEntry(&e))
		if err != nil {
			t.Fatalf("a decoded entry does not decode once encoded again: %v", err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, e)
		}
	})
}
