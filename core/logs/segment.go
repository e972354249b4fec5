package logs

import (
	"bufio"
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
	res := scanResult{end: int64(len(segmentMagic)), next: first}
	var buf []byte
	header := make([]byte, recordHeaderSize)
	for {
		if _, err := io.ReadFull(br, header); err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				res.torn = errShort
				return res, nil
			}
			return scanResult{}, fmt.Errorf("reading spool segment %s: %w", path, err)
		}
		n := int(uint32(header[0]) | uint32(header[1])<<8 | uint32(header[2])<<16 | uint32(header[3])<<24)
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
		if _, err := io.ReadFull(br, buf[recordHeaderSize:]); err != nil {
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
