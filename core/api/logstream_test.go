package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// logSSEEvent is one server-sent event.
type logSSEEvent struct {
	id, event, data string
}

// readLogEvents reads server-sent events from body until n have arrived.
func readLogEvents(t *testing.T, sc *bufio.Scanner, n int) []logSSEEvent {
	t.Helper()
	var out []logSSEEvent
	var cur logSSEEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" {
				out = append(out, cur)
			}
			cur = logSSEEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(out) < n {
		t.Fatalf("stream ended after %d events, want %d: %v", len(out), n, sc.Err())
	}
	return out
}

func openLogStream(t *testing.T, c cred, url string) *bufio.Scanner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	c.apply(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() || sc.Text() != ": connected" {
		t.Fatalf("stream did not start with the connected comment: %q", sc.Text())
	}
	return sc
}

func TestLogStream(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{streamBuf: 4, keepAlive: 50 * time.Millisecond})
	srv := httptest.NewServer(le.srv)
	defer srv.Close()

	sc := openLogStream(t, cred{token: le.token}, srv.URL+"/api/logs/stream?vm_id=vm-live&level=warn")
	es := []logsink.Entry{
		{Level: logsink.LevelWarn, Source: logsink.SourceQEMU, Message: "shown 1", VMID: "vm-live"},
		{Level: logsink.LevelInfo, Source: logsink.SourceQEMU, Message: "below the level", VMID: "vm-live"},
		{Level: logsink.LevelError, Source: logsink.SourceQEMU, Message: "another vm", VMID: "vm-other"},
		{Level: logsink.LevelError, Source: logsink.SourceQEMU, Message: "shown 2", VMID: "vm-live"},
	}
	if err := le.pipe.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	evs := readLogEvents(t, sc, 2)
	for i, want := range []string{"shown 1", "shown 2"} {
		var e logsink.Entry
		if err := json.Unmarshal([]byte(evs[i].data), &e); err != nil {
			t.Fatal(err)
		}
		if evs[i].event != "log" || e.Message != want || evs[i].id != e.ID {
			t.Errorf("event %d: %+v, want a log event of %q with its id", i, evs[i], want)
		}
	}

	// A client too slow for what arrives gets what fits its buffer, then a
	// gap marker; appending never waits for it.
	burst := make([]logsink.Entry, 100)
	for i := range burst {
		burst[i] = logsink.Entry{Level: logsink.LevelError, Source: logsink.SourceQEMU, Message: "burst", VMID: "vm-live"}
	}
	start := time.Now()
	if err := le.pipe.Append(context.Background(), burst); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Append took %s with a slow stream client", took)
	}
	evs = readLogEvents(t, sc, 5)
	for i := range 4 {
		if evs[i].event != "log" {
			t.Fatalf("event %d: %+v, want log", i, evs[i])
		}
	}
	var gap logGap
	if evs[4].event != "gap" || json.Unmarshal([]byte(evs[4].data), &gap) != nil || gap.Dropped != 96 || gap.Kind != "gap" {
		t.Fatalf("event 4: %+v, want a gap of 96", evs[4])
	}
	// Keep-alive comments flow while idle.
	deadline := time.Now().Add(5 * time.Second)
	for sc.Scan() && sc.Text() != ": keep-alive" {
		if time.Now().After(deadline) {
			t.Fatal("no keep-alive")
		}
	}
	// Shutdown ends the stream.
	le.pipe.EndSubscriptions()
	for sc.Scan() {
	}

	le.do(t, "GET", "/api/logs/stream?level=loud", "").want(t, http.StatusBadRequest, codeBadRequest, "level")
}
