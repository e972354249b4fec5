package backend

import "io"

// ChanReader is an io.Reader over byte slices sent on a channel, for a
// console whose bytes another goroutine hands over: Read returns the
// slices' bytes in order, a slice over as many Reads as p needs, and io.EOF
// once done is closed and the slices already in the channel were read, so
// that nothing sent before the end is lost. Read waits while the channel
// is empty and done open. One goroutine reads; a ChanReader holds no
// goroutine and closes neither channel.
type ChanReader struct {
	src  <-chan []byte
	done <-chan struct{}
	// pending is what Read did not take of the last slice.
	pending []byte
}

// NewChanReader returns a reader of the slices sent on src until done
// closes.
func NewChanReader(src <-chan []byte, done <-chan struct{}) *ChanReader {
	return &ChanReader{src: src, done: done}
}

// Read reads from the slices as ChanReader says.
func (r *ChanReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		select {
		case b := <-r.src:
			r.pending = b
		case <-r.done:
			// Both may be ready: what came before the end goes first.
			select {
			case b := <-r.src:
				r.pending = b
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}
