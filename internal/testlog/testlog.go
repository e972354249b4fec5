// Package testlog gives tests a logger that writes to the test's log, so
// that what the code under test logs shows with the test's output (go test
// -v, or a failure) and nowhere else.
package testlog

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// New returns a logger named "test" that logs to t's log at level and
// above.
func New(t testing.TB, level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: level, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
