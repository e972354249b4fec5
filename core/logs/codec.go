package logs

import (
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
//	timestamp  varint, Unix nanoseconds
//	flags      byte, bit 0: user_action
//	then id, level, source, component, message, fields, vm_id, node_id,
//	user_id, session_id, correlation_id, action, target, each an uvarint
//	length and that many bytes.
const entryCodecVersion = 1

// errBadPayload: a spool payload that is not an encoded entry.
var errBadPayload = errors.New("not an encoded log entry")

// encodeEntry is an entry's spool payload.
func encodeEntry(e *logsink.Entry) []byte {
	strs := entryStrings(e)
	n := 1 + binary.MaxVarintLen64 + 1
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, entryCodecVersion)
	b = binary.AppendVarint(b, e.Timestamp.UnixNano())
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
	if len(b) < 3 || b[0] != entryCodecVersion {
		return e, fmt.Errorf("decoding a log entry from the spool: %w (version byte %d)", errBadPayload, firstByte(b))
	}
	b = b[1:]
	ns, n := binary.Varint(b)
	if n <= 0 || n >= len(b) {
		return e, fmt.Errorf("decoding a log entry from the spool: %w: bad timestamp", errBadPayload)
	}
	e.Timestamp = time.Unix(0, ns).UTC()
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
