package logs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// An entry's spool payload is a compact binary form, cheaper to write at
// ingest and to read at every delivery than JSON:
//
//	version byte (entryCodecVersion)
//	timestamp  an uvarint length and that many bytes, the timestamp in
//	           UTC as time.Time.MarshalBinary writes it: every time is
//	           stored exactly, whatever its year
//	flags      byte, bit 0: user_action
//	then id, level, source, component, message, fields, vm_id, node_id,
//	user_id, session_id, correlation_id, action, target, each an uvarint
//	length and that many bytes.
//
// Version 1, which spools written before may still hold, differs only in
// the timestamp: a varint of Unix nanoseconds, which holds only the years
// 1678 to 2261 (beyond them it wrapped). It is still read.
const (
	entryCodecVersion   = 2
	entryCodecVersionV1 = 1
)

// maxTimestampBytes bounds the encoded timestamp of a payload.
const maxTimestampBytes = 32

// errBadPayload: a spool payload that is not an encoded entry.
var errBadPayload = errors.New("not an encoded log entry")

// encodeEntry is an entry's spool payload.
func encodeEntry(e *logsink.Entry) []byte {
	strs := entryStrings(e)
	n := 1 + binary.MaxVarintLen64 + maxTimestampBytes + 1
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, entryCodecVersion)
	// MarshalBinary fails only for a zone offset that is not whole minutes,
	// which UTC is not; an empty timestamp, which decodeEntry refuses, is
	// written if it ever did.
	ts, _ := e.Timestamp.UTC().MarshalBinary()
	b = binary.AppendUvarint(b, uint64(len(ts)))
	b = append(b, ts...)
	var flags byte
	if e.UserAction {
		flags |= 1
	}
	b = append(b, flags)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// entryStrings are the string fields of e in payload order.
func entryStrings(e *logsink.Entry) [13]string {
	return [13]string{e.ID, string(e.Level), string(e.Source), string(e.Component), e.Message, string(e.Fields),
		e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID, e.Action, e.Target}
}

// decodeEntry reads a spool payload.
func decodeEntry(b []byte) (logsink.Entry, error) {
	var e logsink.Entry
	if len(b) < 3 || (b[0] != entryCodecVersion && b[0] != entryCodecVersionV1) {
		return e, fmt.Errorf("decoding a log entry from the spool: %w (version byte %d)", errBadPayload, firstByte(b))
	}
	version := b[0]
	b = b[1:]
	var n int
	if version == entryCodecVersionV1 {
		var ns int64
		if ns, n = binary.Varint(b); n <= 0 || n >= len(b) {
			return e, fmt.Errorf("decoding a log entry from the spool: %w: bad timestamp", errBadPayload)
		}
		e.Timestamp = time.Unix(0, ns).UTC()
	} else {
		l, ln := binary.Uvarint(b)
		if ln <= 0 || l == 0 || l > maxTimestampBytes || uint64(len(b)-ln) <= l {
			return e, fmt.Errorf("decoding a log entry from the spool: %w: bad timestamp", errBadPayload)
		}
		n = ln + int(l)
		if err := e.Timestamp.UnmarshalBinary(b[ln:n]); err != nil {
			return e, fmt.Errorf("decoding a log entry from the spool: %w: bad timestamp: %v", errBadPayload, err)
		}
		// Only the form encodeEntry writes is taken: UnmarshalBinary lets
		// through nanoseconds past a second, which would be read as
		// another time than was written, and zones other than UTC.
		if again, err := e.Timestamp.MarshalBinary(); err != nil || !bytes.Equal(again, b[ln:n]) || e.Timestamp.Location() != time.UTC {
			return e, fmt.Errorf("decoding a log entry from the spool: %w: timestamp is not in the form written", errBadPayload)
		}
	}
	e.UserAction = b[n]&1 != 0
	b = b[n+1:]
	var strs [13]string
	for i := range strs {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return e, fmt.Errorf("decoding a log entry from the spool: %w: field %d is cut short", errBadPayload, i)
		}
		strs[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return e, fmt.Errorf("decoding a log entry from the spool: %w: %d bytes after the last field", errBadPayload, len(b))
	}
	e.ID, e.Level, e.Source, e.Component, e.Message = strs[0], logsink.Level(strs[1]), logsink.Source(strs[2]), logsink.Component(strs[3]), strs[4]
	if strs[5] != "" {
		e.Fields = []byte(strs[5])
	}
	e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID, e.Action, e.Target = strs[6], strs[7], strs[8], strs[9], strs[10], strs[11], strs[12]
	return e, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
