// Package webhook is Quantix's webhook log sink: it POSTs every batch of
// entries as one JSON document, {"entries": [...]} with the keys of a log
// entry (docs/logs.md), to a URL, signed with HMAC-SHA256 when a secret is
// configured (see Sign and Verify).
//
// A batch is delivered when the receiver answers 2xx. A POST that fails for
// a reason that may pass (a timeout, no connection, an answer 5xx, 408 or
// 429) is sent again within the Write, with exponential backoff, up to
// max_retries times; after that its entries are retryable. Any other 4xx
// answer (and a redirection, which is not followed) makes them permanent,
// except 413: a batch too large for the receiver is split in halves, sent
// separately, down to single entries.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Name is the plugin's short name.
const Name = "webhook"

// Version is the plugin's release version, set at build time with
// -ldflags "-X github.com/quantixvm/quantix/plugins/logsinks/webhook.Version=...".
var Version = "dev"

var _ logsink.Sink = (*Sink)(nil)

// Sink posts entries to a URL. Create it with New; it is safe for
// concurrent use, and concurrent Writes post concurrently.
type Sink struct {
	mu     sync.Mutex
	cur    *session // nil before Configure and after Close
	closed bool
}

// session is what one configuration uses.
type session struct {
	cfg    settings
	client *http.Client
}

// New returns an unconfigured sink.
func New() *Sink { return &Sink{} }

// Info describes the plugin.
func (s *Sink) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:         Name,
		Type:         plugin.TypeLogSink,
		Version:      Version,
		APIVersions:  logsink.APIVersions,
		Capabilities: []string{logsink.CapRetries},
	}, nil
}

// Configure checks the config block. The receiver is not contacted: one
// that is not up yet only delays delivery.
func (s *Sink) Configure(_ context.Context, raw []byte, _ int) error {
	cfg, _, err := parseSettings(raw)
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 16
	next := &session{cfg: cfg, client: &http.Client{
		Transport: transport,
		Timeout:   cfg.timeout,
		// A POST redirected would lose its body or be resent elsewhere
		// unsigned: the answer is reported instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	s.mu.Lock()
	prev := s.cur
	s.cur, s.closed = next, false
	s.mu.Unlock()
	if prev != nil {
		prev.client.CloseIdleConnections()
	}
	return nil
}

// batch is the JSON document of a POST.
type batch struct {
	Entries []logsink.Entry `json:"entries"`
}

// Write posts the entries as one batch (or several, when the receiver
// answers 413) and answers every entry with what became of its batch.
func (s *Sink) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cur, closed := s.cur, s.closed
	s.mu.Unlock()
	if cur == nil {
		if closed {
			return nil, plugin.Unavailable(nil, "webhook sink is closed; configure it again")
		}
		return nil, plugin.Unavailable(nil, "webhook sink is not configured")
	}
	results := make([]logsink.Result, len(entries))
	if len(entries) > 0 {
		cur.deliver(ctx, entries, results)
	}
	return results, nil
}

// deliver posts entries and sets their results, splitting the batch when
// the receiver finds it too large.
func (c *session) deliver(ctx context.Context, entries []logsink.Entry, results []logsink.Result) {
	body, err := encode(entries)
	if err != nil {
		for i := range results {
			results[i] = logsink.Refused("encoding the batch: %v", err)
		}
		return
	}
	res := c.postWithRetries(ctx, body)
	if res.tooLarge && len(entries) > 1 {
		half := len(entries) / 2
		c.deliver(ctx, entries[:half], results[:half])
		c.deliver(ctx, entries[half:], results[half:])
		return
	}
	for i := range results {
		results[i] = res.result
	}
}

// encode renders the JSON document of a batch.
func encode(entries []logsink.Entry) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(batch{Entries: entries}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Close drops idle connections. Writes fail until Configure is called
// again; Writes in flight finish.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	cur := s.cur
	if cur != nil {
		s.cur, s.closed = nil, true
	}
	s.mu.Unlock()
	if cur != nil {
		cur.client.CloseIdleConnections()
	}
	return nil
}
