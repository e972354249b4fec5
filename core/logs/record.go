package logs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A record is one entry of the spool as it is on disk:
//
//	[0:4]   payload length n, uint32 little endian
//	[4:8]   CRC-32C of bytes [8:17+n], uint32 little endian
//	[8:16]  sequence number, uint64 little endian
//	[16]    tag (the entry's source, see sourceTag)
//	[17:]   payload (the entry in the binary encoding of codec.go)
//
// Sequence numbers count up by one across segments, so a record is found
// by its number and a torn or stale record is told from a good one.
const recordHeaderSize = 17

// maxRecordPayload bounds one record's payload; a length above it can only
// be garbage.
const maxRecordPayload = 16 << 20

// damagedTag is the tag of a filler record: recovery found the record of
// that number damaged on disk (repairSegment) and put a filler of zeros in
// its place. No entry has it; Append refuses it.
const damagedTag byte = 0xff

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Record is one record of the spool.
type Record struct {
	// Seq is the record's sequence number.
	Seq uint64
	// Tag classifies the payload without decoding it (the entry's source).
	Tag byte
	// Payload is the record's data.
	Payload []byte
}

// errShort: the bytes end before the record does.
var errShort = errors.New("record is cut short")

// errCorrupt: the bytes are not a record.
var errCorrupt = errors.New("record is corrupt")

// appendRecord appends the encoding of one record to buf.
func appendRecord(buf []byte, seq uint64, tag byte, payload []byte) []byte {
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	h[16] = tag
	crc := crc32.Update(0, crcTable, h[8:recordHeaderSize])
	crc = crc32.Update(crc, crcTable, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// recordSize is the encoded size of a record with a payload of n bytes.
func recordSize(n int) int { return recordHeaderSize + n }

// parseRecord parses the record at the start of b and returns it with its
// encoded size. The payload aliases b. It fails with errShort when b ends
// inside the record and errCorrupt when the bytes are not a record whose
// sequence number is want.
func parseRecord(b []byte, want uint64) (Record, int, error) {
	if len(b) < recordHeaderSize {
		return Record{}, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n > maxRecordPayload {
		return Record{}, 0, fmt.Errorf("%w: payload length %d is over %d", errCorrupt, n, maxRecordPayload)
	}
	size := recordSize(int(n))
	if len(b) < size {
		return Record{}, 0, errShort
	}
	crc := crc32.Update(0, crcTable, b[8:size])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return Record{}, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	seq := binary.LittleEndian.Uint64(b[8:16])
	if seq != want {
		return Record{}, 0, fmt.Errorf("%w: sequence number %d where %d was expected", errCorrupt, seq, want)
	}
	return Record{Seq: seq, Tag: b[16], Payload: b[recordHeaderSize:size]}, size, nil
}
