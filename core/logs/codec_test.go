package logs

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

func TestEntryCodecRoundTrip(t *testing.T) {
	full := logsink.Entry{
		ID: "0190-x", Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 123456000, time.UTC), Level: logsink.LevelWarn,
		Source: logsink.SourceUI, Component: logsink.ComponentVM, Message: "two\nlines, ünïcode \x00 nul",
		Fields: json.RawMessage(`{"a":[1,2]}`), VMID: "vm", NodeID: "node", UserID: "u", SessionID: "s",
		CorrelationID: "c", Action: "button.click", Target: "t", UserAction: true,
	}
	for _, e := range []logsink.Entry{full, {ID: "min", Timestamp: time.Unix(0, 1).UTC(), Level: logsink.LevelInfo, Source: logsink.SourceSystem}} {
		got, err := decodeEntry(encodeEntry(&e))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
	b := encodeEntry(&full)
	for _, bad := range [][]byte{nil, {9, 0, 0}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, err := decodeEntry(bad); !errors.Is(err, errBadPayload) {
			t.Errorf("decoding %q: %v, want errBadPayload", bad, err)
		}
	}
}
