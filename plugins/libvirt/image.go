package libvirt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Image formats the plugin tells apart.
const (
	formatQCOW2 = "qcow2"
	formatRaw   = "raw"
)

// qcow2Magic starts every qcow2 image; the virtual size is the big-endian
// uint64 at byte 24 of the header.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

const qcow2HeaderLen = 32

// imageInfo is what the plugin needs to know about a base image.
type imageInfo struct {
	Format      string
	VirtualSize uint64
}

// probeImage reads the header of the image at path: qcow2 when it starts with
// the qcow2 magic (virtual size from the header), raw otherwise (virtual size
// is the file size).
func probeImage(path string) (imageInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return imageInfo{}, fmt.Errorf("opening image %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return imageInfo{}, fmt.Errorf("reading image %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return imageInfo{}, fmt.Errorf("image %s is not a regular file", path)
	}
	return probeHeader(f, st.Size())
}

// probeHeader detects the format of an image of size bytes read through r.
func probeHeader(r io.ReaderAt, size int64) (imageInfo, error) {
	hdr := make([]byte, qcow2HeaderLen)
	n, err := r.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return imageInfo{}, fmt.Errorf("reading image header: %w", err)
	}
	hdr = hdr[:n]
	if !bytes.HasPrefix(hdr, qcow2Magic) {
		return imageInfo{Format: formatRaw, VirtualSize: uint64(size)}, nil
	}
	if len(hdr) < qcow2HeaderLen {
		return imageInfo{}, fmt.Errorf("qcow2 header is truncated: %d bytes", len(hdr))
	}
	return imageInfo{Format: formatQCOW2, VirtualSize: binary.BigEndian.Uint64(hdr[24:32])}, nil
}
