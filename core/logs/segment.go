package logs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// A segment is one file of the spool: segmentMagic, then records. It is
// named after the sequence number of its first record, so the files sort
// in order and the number of any record is known without reading earlier
// files. Only the last segment is written to; the others are sealed.
const (
	segmentMagic = "QXSPOOL1"
	segmentExt   = ".seg"
)

// segment is what the spool knows of one segment file.
type segment struct {
	// first is the sequence number of its first record; end the one after
	// its last (first when it is empty).
	first, end uint64
	path       string
	// size is how many bytes of it are written and synced, magic included.
	size int64
	// sealed segments are never written again.
	sealed bool
	// modTime is when it was last written.
	modTime time.Time
}

// segmentName is the file name of the segment whose first record is first.
func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

// listSegments returns the segments in dir, oldest first, with first, path,
// size and modTime set. Files that are not segments are left alone.
func listSegments(dir string) ([]*segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing spool segments in %s: %w", dir, err)
	}
	var segs []*segment
	for _, de := range des {
		name := de.Name()
		base, ok := strings.CutSuffix(name, segmentExt)
		if !ok || de.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(base, 10, 64)
		if err != nil || segmentName(first) != name {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("reading spool segment %s: %w", name, err)
		}
		segs = append(segs, &segment{first: first, end: first, path: filepath.Join(dir, name), size: fi.Size(), modTime: fi.ModTime()})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}

// createSegment creates the segment file whose first record is first,
// writes its magic and makes the file and its directory entry durable.
func createSegment(dir string, first uint64) (*os.File, *segment, error) {
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("creating spool segment %s: %w", path, err)
	}
	if _, err := f.Write([]byte(segmentMagic)); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("writing spool segment %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("syncing spool segment %s: %w", path, err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, &segment{first: first, end: first, path: path, size: int64(len(segmentMagic)), modTime: time.Now()}, nil
}

// scanResult is what scanning a segment found.
type scanResult struct {
	// end is the offset just after the last good record; next is the
	// sequence number after it.
	end  int64
	next uint64
	// torn says what follows the last good record when the file does not
	// end there: a record cut short by a crash, or bytes that are not a
	// record. Nil when the file ends cleanly.
	torn error
}

// scanSegment reads the segment at path, whose first record is first,
// and calls fn (when not nil) with every good record and its offset, in
// order. The payload passed to fn is only valid during the call. Reading
// stops at the first bad or incomplete record, which the result describes.
func scanSegment(path string, first uint64, fn func(rec Record, off int64) error) (scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("opening spool segment %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(segmentMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return scanResult{end: 0, next: first, torn: fmt.Errorf("%w: the segment header is cut short", errShort)}, nil
		}
		return scanResult{}, fmt.Errorf("reading spool segment %s: %w", path, err)
	}
	if string(magic) != segmentMagic {
		return scanResult{end: 0, next: first, torn: fmt.Errorf("%w: no segment header", errCorrupt)}, nil
	}
	return scanRecords(path, br, int64(len(segmentMagic)), first, fn)
}

// scanRecords is scanSegment from offset off on, where record next starts;
// r reads the segment from there.
func scanRecords(path string, r io.Reader, off int64, next uint64, fn func(rec Record, off int64) error) (scanResult, error) {
	res := scanResult{end: off, next: next}
	var buf []byte
	header := make([]byte, recordHeaderSize)
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				res.torn = errShort
				return res, nil
			}
			return scanResult{}, fmt.Errorf("reading spool segment %s: %w", path, err)
		}
		n := int(binary.LittleEndian.Uint32(header[0:4]))
		if n > maxRecordPayload {
			res.torn = fmt.Errorf("%w: payload length %d is over %d", errCorrupt, n, maxRecordPayload)
			return res, nil
		}
		size := recordSize(n)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copy(buf, header)
		if _, err := io.ReadFull(r, buf[recordHeaderSize:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				res.torn = errShort
				return res, nil
			}
			return scanResult{}, fmt.Errorf("reading spool segment %s: %w", path, err)
		}
		rec, _, err := parseRecord(buf, res.next)
		if err != nil {
			res.torn = err
			return res, nil
		}
		if fn != nil {
			if err := fn(rec, res.end); err != nil {
				return scanResult{}, err
			}
		}
		res.end += int64(size)
		res.next++
	}
}

// damagedStretch is a stretch of a segment between good records that
// holds none: bytes changed after they were written and synced (media
// damage), found and filled by repairSegment.
type damagedStretch struct {
	// off and size say where the stretch is in the segment.
	off, size int64
	// first and next say which records it held: first up to next-1.
	first, next uint64
	// problem is what was wrong with the record at off.
	problem error
}

// repairSegment scans the segment at path, whose first record is first,
// the way scanSegment does, but does not stop at a bad record that a good
// one follows: when findNextRecord finds a record after it that can follow
// it, the stretch between them is damage, not a torn end. That stretch is
// filled with filler records (fillDamage), made durable, and the scan goes
// on after it. The result describes the segment as it is then; its torn
// part is what no good record follows, which a crash left and the caller
// cuts off.
func repairSegment(path string, first uint64) (scanResult, []damagedStretch, error) {
	res, err := scanSegment(path, first, nil)
	if err != nil || res.torn == nil || res.end == 0 {
		return res, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return scanResult{}, nil, fmt.Errorf("opening spool segment %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scanResult{}, nil, fmt.Errorf("reading spool segment %s: %w", path, err)
	}
	size := fi.Size()
	var found []damagedStretch
	for res.torn != nil {
		off, seq, ok, err := findNextRecord(f, res.end, size, res.next)
		if err != nil {
			return scanResult{}, nil, fmt.Errorf("reading spool segment %s: %w", path, err)
		}
		if !ok {
			break
		}
		if err := fillDamage(f, res.end, off, res.next, seq); err != nil {
			return scanResult{}, nil, fmt.Errorf("filling the damaged stretch of spool segment %s at offset %d: %w", path, res.end, err)
		}
		found = append(found, damagedStretch{off: res.end, size: off - res.end, first: res.next, next: seq, problem: res.torn})
		br := bufio.NewReaderSize(io.NewSectionReader(f, off, size-off), 1<<20)
		if res, err = scanRecords(path, br, off, seq, nil); err != nil {
			return scanResult{}, nil, err
		}
	}
	if len(found) > 0 {
		if err := f.Sync(); err != nil {
			return scanResult{}, nil, fmt.Errorf("syncing spool segment %s: %w", path, err)
		}
	}
	return res, found, nil
}

// findNextRecord looks for where good records start again after the bad
// record at from, record want, in a segment of size bytes: the first offset
// p past from that holds a record whose checksum is right and whose number
// s fits the stretch it leaves out, records want up to s-1: more than want,
// and such that those records took at least a header and at most a record
// of the largest payload each. False when there is none.
//
// The rule tells damage from a torn end. A crash tears only what was being
// written and never acknowledged: no good record follows it, so it is cut
// off as before. Damage to what was written and synced leaves good records
// after it, which are found and kept. (A crash that makes later pages of
// its one write durable but not earlier ones looks like damage; the records
// kept then were not acknowledged, which at-least-once delivery allows.)
func findNextRecord(f io.ReaderAt, from, size int64, want uint64) (int64, uint64, bool, error) {
	const window = 1 << 20
	buf := make([]byte, window+recordHeaderSize)
	var rec []byte
	for base := from + 1; base+recordHeaderSize <= size; base += window {
		b := buf[:min(int64(len(buf)), size-base)]
		if _, err := f.ReadAt(b, base); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, false, err
		}
		for i := 0; i < window && i+recordHeaderSize <= len(b); i++ {
			h := b[i : i+recordHeaderSize]
			seq := binary.LittleEndian.Uint64(h[8:16])
			if seq <= want {
				continue
			}
			p := base + int64(i)
			lost, gap := seq-want, uint64(p-from)
			if lost > gap/recordHeaderSize || (gap-1)/uint64(recordSize(maxRecordPayload)) >= lost {
				continue
			}
			n := binary.LittleEndian.Uint32(h[0:4])
			if n > maxRecordPayload || p+int64(recordSize(int(n))) > size {
				continue
			}
			if cap(rec) < recordSize(int(n)) {
				rec = make([]byte, recordSize(int(n)))
			}
			rec = rec[:recordSize(int(n))]
			if _, err := f.ReadAt(rec, p); err != nil && !errors.Is(err, io.EOF) {
				return 0, 0, false, err
			}
			if _, _, err := parseRecord(rec, seq); err == nil {
				return p, seq, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

// fillDamage overwrites the damaged stretch [from, to) of a segment, which
// held records first up to next-1, with one filler record for each: a
// good record of tag damagedTag with a payload of zeros, the payloads
// sized to fill the stretch exactly. The segment is then a sequence of good
// records numbered one by one again, as readers expect, and consumers tell
// the fillers by their tag.
func fillDamage(f io.WriterAt, from, to int64, first, next uint64) error {
	extra := uint64(to-from) - (next-first)*recordHeaderSize
	zeros := make([]byte, min(extra, maxRecordPayload))
	buf := make([]byte, 0, 1<<20)
	off := from
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		off += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	for seq := first; seq < next; seq++ {
		n := min(extra, maxRecordPayload)
		extra -= n
		if len(buf)+recordSize(int(n)) > cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
		buf = appendRecord(buf, seq, damagedTag, zeros[:n])
	}
	if err := flush(); err != nil {
		return err
	}
	if off != to {
		return fmt.Errorf("the fillers end at offset %d, not %d", off, to)
	}
	return nil
}
