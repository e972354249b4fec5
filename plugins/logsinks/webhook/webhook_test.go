package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/plugins/logsinks/webhook"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestSignatureAndHeaders checks what one POST carries: the body
// {"entries": [...]}, its HMAC-SHA256 signature (checked by the receiver
// with crypto/hmac alone, and by Verify), configured headers, the content
// type and the user agent.
func TestSignatureAndHeaders(t *testing.T) {
	r := newReceiver(t, "s3cret")
	cfg := r.settings()
	cfg["headers"] = map[string]string{"Authorization": "Bearer token-1", "x-tenant": "lab"}
	s := configured(t, cfg)
	batch := entries("sig", 3)
	for i, res := range write(t, s, batch) {
		if !res.Delivered() {
			t.Fatalf("entry %d: %s", i, res)
		}
	}
	reqs := r.got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests for one batch, want 1", len(reqs))
	}
	req := reqs[0]
	if !webhook.Verify([]byte("s3cret"), req.body, req.header.Get(webhook.SignatureHeader)) {
		t.Errorf("Verify rejects the signature the receiver accepted")
	}
	if webhook.Verify([]byte("other"), req.body, req.header.Get(webhook.SignatureHeader)) {
		t.Errorf("Verify accepts the signature with another secret")
	}
	if webhook.Verify([]byte("s3cret"), append(bytes.Clone(req.body), ' '), req.header.Get(webhook.SignatureHeader)) {
		t.Errorf("Verify accepts the signature of another body")
	}
	if got := req.header.Get("Authorization"); got != "Bearer token-1" {
		t.Errorf("Authorization %q", got)
	}
	if got := req.header.Get("X-Tenant"); got != "lab" {
		t.Errorf("X-Tenant %q", got)
	}
	if ua := req.header.Get("User-Agent"); !strings.HasPrefix(ua, "quantix-logsink-webhook/") {
		t.Errorf("User-Agent %q", ua)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal(req.body, &doc); err != nil || len(doc) != 1 || len(doc["entries"]) != 3 {
		t.Fatalf("body %s: want {\"entries\": [3 entries]} (%v)", req.body, err)
	}
	first := doc["entries"][0]
	for _, k := range []string{"id", "timestamp", "level", "source", "component", "message", "fields", "user_action"} {
		if _, ok := first[k]; !ok {
			t.Errorf("entry in the body lacks %q: %v", k, first)
		}
	}
	if !strings.Contains(string(req.body), "<failed> & retried") {
		t.Errorf("the body escapes HTML characters: %s", req.body)
	}

	// Without a secret there is no signature (the receiver checks).
	plain := newReceiver(t, "")
	write(t, configured(t, plain.settings()), entries("nosig", 1))
	if n := len(plain.got()); n != 1 {
		t.Errorf("%d requests without a secret", n)
	}
}

// TestRetriesThenDelivers answers 503 twice, then accepts: the batch is
// delivered within one Write, after backoff.
func TestRetriesThenDelivers(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(n int, _ []byte) answer {
		if n < 2 {
			return answer{status: http.StatusServiceUnavailable, body: "warming up"}
		}
		return answer{}
	})
	cfg := r.settings()
	cfg["max_retries"], cfg["backoff"], cfg["max_backoff"] = 3, "50ms", "1s"
	s := configured(t, cfg)
	start := time.Now()
	for i, res := range write(t, s, entries("retry", 4)) {
		if !res.Delivered() {
			t.Fatalf("entry %d: %s, want delivered after retries", i, res)
		}
	}
	reqs := r.got()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (two 503 answers, then success)", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 50*time.Millisecond {
		t.Errorf("first retry after %s, want at least the 50ms backoff", gap)
	}
	if gap := reqs[2].at.Sub(reqs[1].at); gap < 100*time.Millisecond {
		t.Errorf("second retry after %s, want at least 100ms (backoff doubled)", gap)
	}
	if !bytes.Equal(reqs[0].body, reqs[2].body) {
		t.Error("a retry sent another body")
	}
	if got := len(r.delivered()); got != 4 {
		t.Errorf("receiver kept %d entries, want 4", got)
	}
	t.Logf("delivered after %s", time.Since(start))
}

// TestRetriesExhausted always answers 502: after max_retries the entries
// are retryable, saying why.
func TestRetriesExhausted(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(int, []byte) answer { return answer{status: http.StatusBadGateway, body: "upstream down"} })
	s := configured(t, r.settings())
	for i, res := range write(t, s, entries("exhausted", 2)) {
		if res.Outcome != logsink.Retryable || !strings.Contains(res.Message, "502 Bad Gateway: upstream down") || !strings.Contains(res.Message, "after 3 tries") {
			t.Errorf("entry %d: %s, want retryable after 3 tries quoting the 502", i, res)
		}
		if !errors.Is(res.Err(), plugin.ErrUnavailable) {
			t.Errorf("entry %d: Err() = %v, want plugin.ErrUnavailable", i, res.Err())
		}
	}
	if n := len(r.got()); n != 3 {
		t.Errorf("%d requests, want 3 (max_retries 2)", n)
	}
}

// TestTimeoutRetried answers the first request only after the sink gave up
// on it: it times out and is sent again.
func TestTimeoutRetried(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(n int, _ []byte) answer {
		if n == 0 {
			return answer{late: true}
		}
		return answer{}
	})
	cfg := r.settings()
	cfg["timeout"] = "150ms"
	s := configured(t, cfg)
	for i, res := range write(t, s, entries("slow", 2)) {
		if !res.Delivered() {
			t.Fatalf("entry %d: %s, want delivered by the retry", i, res)
		}
	}
	if n := len(r.got()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestClientErrorsArePermanent answers 4xx: one try only, permanent results
// quoting the answer. 408 and 429 are the exceptions: retryable.
func TestClientErrorsArePermanent(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			r := newReceiver(t, "k")
			r.setRespond(func(int, []byte) answer { return answer{status: status, body: "{\"error\": \"no\"}\n"} })
			s := configured(t, r.settings())
			for i, res := range write(t, s, entries("client", 2)) {
				if res.Outcome != logsink.Permanent || !strings.Contains(res.Message, http.StatusText(status)) || !strings.Contains(res.Message, `{"error": "no"}`) {
					t.Errorf("entry %d: %s, want permanent quoting the answer", i, res)
				}
				if !errors.Is(res.Err(), plugin.ErrInvalidArgument) {
					t.Errorf("entry %d: Err() = %v, want plugin.ErrInvalidArgument", i, res.Err())
				}
			}
			if n := len(r.got()); n != 1 {
				t.Errorf("%d requests, want 1: a 4xx is not retried", n)
			}
		})
	}
	for _, status := range []int{http.StatusRequestTimeout, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			r := newReceiver(t, "k")
			r.setRespond(func(int, []byte) answer { return answer{status: status} })
			s := configured(t, r.settings())
			for i, res := range write(t, s, entries("again", 1)) {
				if res.Outcome != logsink.Retryable {
					t.Errorf("entry %d: %s, want retryable", i, res)
				}
			}
			if n := len(r.got()); n != 3 {
				t.Errorf("%d requests, want 3: %d is retried", n, status)
			}
		})
	}
}

// TestRetryAfter answers 429 with Retry-After: 1: the next try waits for it
// (capped by max_backoff).
func TestRetryAfter(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(n int, _ []byte) answer {
		if n == 0 {
			return answer{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "1"}}
		}
		return answer{}
	})
	cfg := r.settings()
	cfg["max_backoff"] = "5s"
	s := configured(t, cfg)
	for _, res := range write(t, s, entries("after", 1)) {
		if !res.Delivered() {
			t.Fatalf("%s, want delivered", res)
		}
	}
	reqs := r.got()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %s, want at least the 1s of Retry-After", gap)
	}
}

// TestTooLargeBatchIsSplit answers 413 to bodies with more than 10 entries
// and to any entry with a huge message: the batch is split until it fits,
// and only the huge entry is refused.
func TestTooLargeBatchIsSplit(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(_ int, body []byte) answer {
		var doc struct{ Entries []logsink.Entry }
		_ = json.Unmarshal(body, &doc)
		if len(doc.Entries) > 10 || len(body) > 50000 {
			return answer{status: http.StatusRequestEntityTooLarge}
		}
		return answer{}
	})
	s := configured(t, r.settings())
	batch := entries("split", 25)
	batch[17].Message = strings.Repeat("big ", 20000)
	results := write(t, s, batch)
	for i, res := range results {
		switch {
		case i == 17 && (res.Outcome != logsink.Permanent || !strings.Contains(res.Message, "too large even alone")):
			t.Errorf("the huge entry: %s, want permanent, too large", res)
		case i != 17 && !res.Delivered():
			t.Errorf("entry %d: %s, want delivered in a smaller batch", i, res)
		}
	}
	got := map[string]int{}
	for _, e := range r.delivered() {
		got[e.ID]++
	}
	for i, e := range batch {
		if want := map[bool]int{true: 0, false: 1}[i == 17]; got[e.ID] != want {
			t.Errorf("entry %s received %d times, want %d", e.ID, got[e.ID], want)
		}
	}
}

// TestRedirectNotFollowed answers 302: permanent, naming the target.
func TestRedirectNotFollowed(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(int, []byte) answer {
		return answer{status: http.StatusFound, header: map[string]string{"Location": "https://elsewhere.example/hook"}}
	})
	s := configured(t, r.settings())
	res := write(t, s, entries("redirect", 1))[0]
	if res.Outcome != logsink.Permanent || !strings.Contains(res.Message, "https://elsewhere.example/hook") {
		t.Errorf("%s, want permanent naming the redirection", res)
	}
	if n := len(r.got()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestConnectionRefused posts to a port nothing listens on: retryable.
func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := configured(t, map[string]any{"url": "http://" + addr + "/", "max_retries": 1, "backoff": "10ms"})
	res := write(t, s, entries("refused", 1))[0]
	if res.Outcome != logsink.Retryable || !strings.Contains(res.Message, "connection refused") {
		t.Errorf("%s, want retryable, connection refused", res)
	}
}

// TestCancelStopsRetrying cancels the Write while it waits to retry: it
// returns at once, retryable.
func TestCancelStopsRetrying(t *testing.T) {
	r := newReceiver(t, "k")
	r.setRespond(func(int, []byte) answer { return answer{status: http.StatusServiceUnavailable} })
	cfg := r.settings()
	cfg["max_retries"], cfg["backoff"], cfg["max_backoff"] = 5, "2s", "2s"
	s := configured(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	results, err := s.Write(ctx, entries("cancel", 2))
	if took := time.Since(start); took > time.Second {
		t.Errorf("Write took %s after its context ended at 200ms", took)
	}
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, res := range results {
		if res.Outcome != logsink.Retryable || !strings.Contains(res.Message, "gave up waiting") {
			t.Errorf("%s, want retryable, gave up waiting", res)
		}
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := webhook.New()
	if _, err := s.Write(ctx, entries("x", 1)); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("Write before Configure: %v", err)
	}
	r := newReceiver(t, "")
	raw, _ := json.Marshal(r.settings())
	if err := s.Configure(ctx, raw, logsink.APIVersion); err != nil {
		t.Fatal(err)
	}
	if res := write(t, s, entries("open", 1))[0]; !res.Delivered() {
		t.Fatal(res)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write(ctx, entries("x", 1)); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close: %v", err)
	}
}

// TestPluginBinaryRefusesToRunByHand runs the plugin without the go-plugin
// handshake: it must say it is a plugin and exit non-zero.
func TestPluginBinaryRefusesToRunByHand(t *testing.T) {
	cmd := exec.Command(pluginBinary(t))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("running by hand: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("output does not say it is a plugin:\n%s", out)
	}
}
