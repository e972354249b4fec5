package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// snippetSize bounds the part of an answer's body quoted in a result.
const snippetSize = 200

// drainSize bounds what is read of an answer's body so that its connection
// can be used again.
const drainSize = 64 << 10

// outcome is what became of a batch after every try.
type outcome struct {
	result logsink.Result
	// tooLarge is set when the receiver answered 413.
	tooLarge bool
}

// attempt is what one POST gave.
type attempt struct {
	outcome
	// retry is set when another try may succeed.
	retry bool
	// after is how long the receiver asked to wait (Retry-After).
	after time.Duration
}

// postWithRetries posts body, trying again after failures that may pass
// with exponential backoff, up to max_retries times or until ctx ends.
func (c *session) postWithRetries(ctx context.Context, body []byte) outcome {
	wait := c.cfg.backoff
	for try := 0; ; try++ {
		a := c.post(ctx, body)
		if !a.retry || try == c.cfg.maxRetries || ctx.Err() != nil {
			if a.retry && try > 0 {
				a.result.Message = fmt.Sprintf("%s (after %d tries)", a.result.Message, try+1)
			}
			return a.outcome
		}
		pause := min(max(jitter(wait), a.after), c.cfg.maxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			a.result.Message += fmt.Sprintf(" (gave up waiting to try again: %v)", ctx.Err())
			return a.outcome
		case <-t.C:
		}
		wait = min(2*wait, c.cfg.maxBackoff)
	}
}

// jitter spreads d over [d, 1.25d) so that sinks retrying at once do not
// stay in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

// post sends body once and classifies the answer.
func (c *session) post(ctx context.Context, body []byte) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.url, bytes.NewReader(body))
	if err != nil {
		return attempt{outcome: outcome{result: logsink.Refused("webhook %s: %v", c.cfg.url, err)}}
	}
	for k, v := range c.cfg.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "quantix-logsink-webhook/"+Version)
	if len(c.cfg.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(c.cfg.secret, body))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return attempt{outcome: outcome{result: logsink.RetryLater("posting to webhook %s: %v", c.cfg.url, err)}, retry: true}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, drainSize))
	code := resp.StatusCode
	answer := fmt.Sprintf("webhook %s answered %s", c.cfg.url, resp.Status)
	if s := snippet(head); s != "" {
		answer += ": " + s
	}
	switch {
	case code >= 200 && code < 300:
		return attempt{outcome: outcome{result: logsink.OK()}}
	case code == http.StatusRequestEntityTooLarge:
		return attempt{outcome: outcome{result: logsink.Refused("%s (the batch of %d bytes is too large even alone)", answer, len(body)), tooLarge: true}}
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return attempt{outcome: outcome{result: logsink.RetryLater("%s", answer)}, retry: true, after: retryAfter(resp.Header.Get("Retry-After"))}
	case code >= 300 && code < 400:
		return attempt{outcome: outcome{result: logsink.Refused("%s, redirecting to %q: redirections are not followed, point url at the final address", answer, resp.Header.Get("Location"))}}
	default:
		return attempt{outcome: outcome{result: logsink.Refused("%s", answer)}}
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// snippet is the start of an answer's body fit for a message: one line of
// valid UTF-8.
func snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > snippetSize {
		cut := snippetSize
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
