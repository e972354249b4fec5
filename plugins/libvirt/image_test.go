package libvirt

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func qcow2Header(size uint64) []byte {
	h := make([]byte, 512)
	copy(h, qcow2Magic)
	binary.BigEndian.PutUint32(h[4:8], 3)
	binary.BigEndian.PutUint64(h[24:32], size)
	return h
}

func TestProbeHeader(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		format  string
		size    uint64
		wantErr bool
	}{
		{"qcow2", qcow2Header(5 << 30), formatQCOW2, 5 << 30, false},
		{"raw", bytes.Repeat([]byte{0}, 4096), formatRaw, 4096, false},
		{"raw with text", []byte("QFI not really"), formatRaw, 14, false},
		{"empty raw", nil, formatRaw, 0, false},
		{"truncated qcow2", qcow2Header(1)[:20], "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeHeader(bytes.NewReader(tt.data), int64(len(tt.data)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.Format != tt.format || got.VirtualSize != tt.size) {
				t.Errorf("got %+v, want %s of %d bytes", got, tt.format, tt.size)
			}
		})
	}
}

func TestProbeImage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "base.qcow2")
	if err := os.WriteFile(path, qcow2Header(1<<30), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := probeImage(path)
	if err != nil || got.Format != formatQCOW2 || got.VirtualSize != 1<<30 {
		t.Fatalf("probeImage = %+v, %v", got, err)
	}
	if _, err := probeImage(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing image: no error")
	}
	if _, err := probeImage(dir); err == nil {
		t.Error("directory: no error")
	}
}
