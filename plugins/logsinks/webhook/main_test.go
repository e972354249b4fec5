package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/plugins/logsinks/webhook"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// binaryName is the plugin binary the process tests run.
var binaryName = plugin.BinaryName(plugin.TypeLogSink, webhook.Name)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// pluginBinary returns quantix-logsink-webhook from
// $QUANTIX_BIN_DIR/plugins when `make test` built it there, and otherwise
// builds it once.
func pluginBinary(t testing.TB) string {
	t.Helper()
	return testbin.Plugin(t, binaryName)
}

// request is one POST the receiver got.
type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// answer is what the receiver says to one request; status 0 accepts it.
type answer struct {
	status int
	header map[string]string
	body   string
	// late holds the answer until the client has given up on the request.
	late bool
}

// receiver is a webhook endpoint on 127.0.0.1: it checks each request's
// signature independently of the sink's code, decodes the batch strictly
// and keeps the entries of the requests it accepts.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret []byte

	mu       sync.Mutex
	requests []request
	entries  []logsink.Entry
	// respond, when set, decides the answer to the n-th request (from 0).
	respond func(n int, body []byte) answer
	// maxBody, when set, is the largest body accepted; larger ones are
	// answered 413.
	maxBody int
}

func newReceiver(t testing.TB, secret string) *receiver {
	r := &receiver{t: t, secret: []byte(secret)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// untilGivenUp returns once the client has closed the connection of req.
func (r *receiver) untilGivenUp(req *http.Request) {
	select {
	case <-req.Context().Done():
	case <-time.After(30 * time.Second):
		r.t.Errorf("receiver: the client still waits for a late answer after 30s")
	}
}

// expectedSignature computes the signature with the standard library
// alone.
func expectedSignature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: reading the body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	n := len(r.requests)
	r.requests = append(r.requests, request{header: req.Header.Clone(), body: body, at: time.Now()})
	respond, maxBody := r.respond, r.maxBody
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("receiver: %s with Content-Type %q, want a POST of application/json", req.Method, req.Header.Get("Content-Type"))
	}
	if len(r.secret) > 0 {
		if got, want := req.Header.Get("X-Quantix-Signature"), expectedSignature(r.secret, body); got != want {
			r.t.Errorf("receiver: signature %q, want %q", got, want)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	} else if got := req.Header.Get("X-Quantix-Signature"); got != "" {
		r.t.Errorf("receiver: signature %q without a secret", got)
	}
	if maxBody > 0 && len(body) > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if respond != nil {
		a := respond(n, body)
		if a.late {
			r.untilGivenUp(req)
		}
		if a.status != 0 {
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(a.status)
			_, _ = io.WriteString(w, a.body)
			return
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var doc struct {
		Entries []logsink.Entry `json:"entries"`
	}
	if err := dec.Decode(&doc); err != nil {
		r.t.Errorf("receiver: the body is not a batch: %v\n%s", err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.entries = append(r.entries, doc.Entries...)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// setRespond replaces the answer policy; nil accepts everything.
func (r *receiver) setRespond(fn func(n int, body []byte) answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = fn
}

func (r *receiver) delivered() []logsink.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logsink.Entry(nil), r.entries...)
}

func (r *receiver) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

// settings is a config block for r with fast retries.
func (r *receiver) settings() map[string]any {
	cfg := map[string]any{"url": r.srv.URL + "/hooks/quantix", "max_retries": 2, "backoff": "10ms", "max_backoff": "40ms", "timeout": "2s"}
	if len(r.secret) > 0 {
		cfg["secret"] = string(r.secret)
	}
	return cfg
}

// configured returns a webhook sink configured with cfg, closed when t
// ends.
func configured(t testing.TB, cfg map[string]any) *webhook.Sink {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := webhook.New()
	if err := s.Configure(context.Background(), raw, logsink.APIVersion); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// entries returns n ordinary entries with ids prefix-0 ….
func entries(prefix string, n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		out[i] = logsink.Entry{
			ID:        fmt.Sprintf("%s-%d", prefix, i),
			Timestamp: time.Date(2026, 1, 18, 10, 0, 0, i, time.UTC),
			Level:     logsink.LevelWarn,
			Source:    logsink.SourceAudit,
			Component: logsink.ComponentVM,
			Message:   fmt.Sprintf("POST /api/vms/%d/start <failed> & retried", i),
			Fields:    json.RawMessage(`{"status":502}`),
		}
	}
	return out
}

// write writes entries and returns the results, failing t on an error of
// the whole call.
func write(t testing.TB, s logsink.Sink, batch []logsink.Entry) []logsink.Result {
	t.Helper()
	results, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(results) != len(batch) {
		t.Fatalf("Write of %d entries answered %d results", len(batch), len(results))
	}
	return results
}
