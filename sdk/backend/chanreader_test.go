package backend

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// TestChanReaderDrainsBeforeEOF: what was sent before done closed is read
// in order, a slice over several small Reads, and io.EOF comes only after,
// every time it is asked again.
func TestChanReaderDrainsBeforeEOF(t *testing.T) {
	src, done := make(chan []byte, 4), make(chan struct{})
	r := NewChanReader(src, done)
	src <- []byte("hello, ")
	src <- []byte("console")
	src <- nil // an empty slice is skipped, not an end
	src <- []byte("!")
	close(done)
	var got bytes.Buffer
	buf := make([]byte, 3)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("Read returned 0 bytes and no error")
		}
	}
	if got.String() != "hello, console!" {
		t.Fatalf("read %q, want %q", got.String(), "hello, console!")
	}
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the end = %d, %v, want 0, io.EOF", n, err)
	}
}

// TestChanReaderWaits: Read waits for a slice while done is open, and a
// waiting Read ends with io.EOF when done closes.
func TestChanReaderWaits(t *testing.T) {
	src, done := make(chan []byte), make(chan struct{})
	r := NewChanReader(src, done)
	type result struct {
		b   []byte
		err error
	}
	results := make(chan result, 1)
	read := func() {
		buf := make([]byte, 16)
		n, err := r.Read(buf)
		results <- result{buf[:n], err}
	}
	next := func() (result, bool) {
		select {
		case res := <-results:
			return res, true
		default:
			return result{}, false
		}
	}
	go read()
	wait.Stays(t, 100*time.Millisecond, "Read waiting with nothing sent", func() bool { return len(results) == 0 })
	src <- []byte("late")
	if got := wait.Value(t, 5*time.Second, "the Read to return what was sent", next); string(got.b) != "late" || got.err != nil {
		t.Fatalf("Read = %q, %v, want \"late\"", got.b, got.err)
	}
	go read()
	wait.Stays(t, 100*time.Millisecond, "Read waiting again", func() bool { return len(results) == 0 })
	close(done)
	if got := wait.Value(t, 5*time.Second, "the waiting Read to end", next); len(got.b) != 0 || !errors.Is(got.err, io.EOF) {
		t.Fatalf("Read after done = %q, %v, want io.EOF", got.b, got.err)
	}
}
