package logsinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// diff lists the fields in which got, an entry read back from the
// destination, differs from want, the entry written.
func diff(got, want logsink.Entry, prec time.Duration) []string {
	var out []string
	str := func(name, g, w string) {
		if g != w {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", name, quote(g), quote(w)))
		}
	}
	str("id", got.ID, want.ID)
	gt, wt := got.Timestamp, want.Timestamp
	if prec > 0 {
		gt, wt = gt.Truncate(prec), wt.Truncate(prec)
	}
	if !gt.Equal(wt) {
		out = append(out, fmt.Sprintf("timestamp: got %s, want %s", got.Timestamp.Format(time.RFC3339Nano), want.Timestamp.Format(time.RFC3339Nano)))
	}
	str("level", string(got.Level), string(want.Level))
	str("source", string(got.Source), string(want.Source))
	str("component", string(got.Component), string(want.Component))
	str("message", got.Message, want.Message)
	if !sameFields(got.Fields, want.Fields) {
		out = append(out, fmt.Sprintf("fields: got %s, want %s", quote(string(got.Fields)), quote(string(want.Fields))))
	}
	str("vm_id", got.VMID, want.VMID)
	str("node_id", got.NodeID, want.NodeID)
	str("user_id", got.UserID, want.UserID)
	str("session_id", got.SessionID, want.SessionID)
	str("correlation_id", got.CorrelationID, want.CorrelationID)
	str("action", got.Action, want.Action)
	str("target", got.Target, want.Target)
	if got.UserAction != want.UserAction {
		out = append(out, fmt.Sprintf("user_action: got %v, want %v", got.UserAction, want.UserAction))
	}
	return out
}

// quote shows a value in a failure message, shortened when long.
func quote(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%q… (%d bytes)", s[:120], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// sameFields compares two fields objects by meaning: key order, spacing and
// number spelling aside. Nothing and JSON null are the same.
func sameFields(a, b json.RawMessage) bool {
	ea := logsink.Entry{Fields: a}.HasFields()
	eb := logsink.Entry{Fields: b}.HasFields()
	if !ea || !eb {
		return ea == eb
	}
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// byID indexes delivered entries by id.
func byID(entries []logsink.Entry) map[string][]logsink.Entry {
	m := make(map[string][]logsink.Entry, len(entries))
	for _, e := range entries {
		m[e.ID] = append(m[e.ID], e)
	}
	return m
}

// awaitDelivered polls Harness.Delivered until every entry of want shows
// up, then checks each against what was written. exactlyOnce also fails
// entries delivered more than once (fault-free subtests). It returns the
// delivered entries by id.
func (e *env) awaitDelivered(t *testing.T, what string, want []logsink.Entry, exactlyOnce bool) map[string][]logsink.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e.h.deliveryTimeout())
	defer cancel()
	var got map[string][]logsink.Entry
	var missing []string
	_ = wait.Poll(ctx, func() error {
		got = byID(e.h.Delivered(t))
		missing = missing[:0]
		for _, w := range want {
			if len(got[w.ID]) == 0 {
				missing = append(missing, w.ID)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d entries missing", len(missing))
		}
		return nil
	})
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d entries reported delivered are not at the destination after %s, e.g. %s",
			what, len(missing), len(want), e.h.deliveryTimeout(), strings.Join(missing[:min(5, len(missing))], ", "))
	}
	reported := 0
	for _, w := range want {
		copies := got[w.ID]
		if len(copies) == 0 {
			continue
		}
		if exactlyOnce && len(copies) > 1 {
			t.Errorf("%s: entry %s was delivered %d times, want once (nothing failed)", what, w.ID, len(copies))
		}
		for _, c := range copies {
			if d := diff(c, w, e.h.TimePrecision); len(d) > 0 && reported < 10 {
				reported++
				t.Errorf("%s: entry %s at the destination differs from what was written:\n  %s", what, w.ID, strings.Join(d, "\n  "))
			}
		}
	}
	return got
}

// checkAbsent fails t for every id of entries found at the destination.
func (e *env) checkAbsent(t *testing.T, what string, entries []logsink.Entry) {
	t.Helper()
	got := byID(e.h.Delivered(t))
	for _, x := range entries {
		if n := len(got[x.ID]); n > 0 {
			t.Errorf("%s: entry %s is at the destination (%d times), want it not delivered", what, x.ID, n)
		}
	}
}
