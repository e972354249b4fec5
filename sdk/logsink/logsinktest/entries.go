package logsinktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// randHex returns n random bytes as hex.
func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("logsinktest: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// batchID returns an id prefix unique to this run and label.
func batchID(label string) string { return "lst-" + label + "-" + randHex(6) }

// baseTime is a fixed instant with nanoseconds, in a zone other than UTC,
// so that sinks that drop either are caught.
var baseTime = time.Date(2026, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+2", 2*3600))

// plainEntries returns n ordinary entries with ids prefix-0 .. prefix-(n-1),
// cycling through every level, source and component.
func plainEntries(prefix string, n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		out[i] = logsink.Entry{
			ID:            fmt.Sprintf("%s-%d", prefix, i),
			Timestamp:     baseTime.Add(time.Duration(i) * time.Millisecond),
			Level:         logsink.Levels[i%len(logsink.Levels)],
			Source:        logsink.Sources[i%len(logsink.Sources)],
			Component:     logsink.Components[i%len(logsink.Components)],
			Message:       fmt.Sprintf("entry %d of %d", i, n),
			Fields:        json.RawMessage(fmt.Sprintf(`{"n":%d,"batch":%q}`, i, prefix)),
			VMID:          "6809e7d9-0c5b-4d6f-9a4e-2f0e1c3b5a7d",
			NodeID:        "node-1",
			CorrelationID: prefix,
			Action:        "vm.start",
			Target:        "vm/first-vm",
		}
	}
	return out
}

// message8K is an 8 KiB message mixing ASCII, multi-byte characters and
// newlines.
func message8K() string {
	var b strings.Builder
	pattern := "Quantix ✓ 日本語 line\n"
	for b.Len() < 8192-len(pattern) {
		b.WriteString(pattern)
	}
	b.WriteString(strings.Repeat("x", 8192-b.Len()))
	return b.String()
}

// trickyEntries returns entries that stress encodings: Unicode, newlines,
// characters that need escaping in JSON or syslog structured data, an 8 KiB
// message, empty optional fields, nested fields, every level and source.
func trickyEntries(prefix string) []logsink.Entry {
	t := baseTime
	all := logsink.Entry{
		Timestamp:     t,
		Level:         logsink.LevelError,
		Source:        logsink.SourceUI,
		Component:     logsink.ComponentConsole,
		Message:       `every field set: quotes " backslash \ bracket ] equals = braces {}`,
		Fields:        json.RawMessage(`{"nested":{"list":[1,2.5,"three",null,true],"empty":{}},"unicode ключ":"значение","big":9007199254740993,"quote\"key":"a\\b"}`),
		VMID:          `vm-"quoted"-\back\-]bracket`,
		NodeID:        "node=1 [rack 3]",
		UserID:        "user@example.com",
		SessionID:     "sess-" + randHex(4),
		CorrelationID: "req-" + randHex(4),
		Action:        "submit",
		Target:        `form "create vm"`,
		UserAction:    true,
	}
	entries := []logsink.Entry{
		{Timestamp: t, Level: logsink.LevelInfo, Source: logsink.SourceUI, Component: logsink.ComponentDashboard,
			Message: "Unicode: héllo wörld ✓ 日本語 한국어 العربية עברית e\u0301 🚀👩‍💻", UserAction: true, Action: "click", Target: "refresh ✓"},
		{Timestamp: t, Level: logsink.LevelWarn, Source: logsink.SourceQEMU, Component: logsink.ComponentQEMU,
			Message: "first line\nsecond line\n\tindented third\r\nfourth after CRLF\n"},
		{Timestamp: t, Level: logsink.LevelDebug, Source: logsink.SourceSystem, Component: logsink.ComponentSystem,
			Message: message8K()},
		{Timestamp: t, Level: logsink.LevelInfo, Source: logsink.SourceAudit,
			Message: "only the required fields"},
		{Timestamp: t, Level: logsink.LevelError, Source: logsink.SourceSystem,
			Message: ""},
		{Timestamp: t.Add(time.Nanosecond), Level: logsink.LevelInfo, Source: logsink.SourceAudit, Component: logsink.ComponentVM,
			Message: "empty fields object", Fields: json.RawMessage(`{}`)},
		{Timestamp: time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), Level: logsink.LevelWarn, Source: logsink.SourceUI,
			Component: logsink.ComponentAuth, Message: "an old timestamp, nanoseconds at the end of a second"},
		all,
	}
	for i := range entries {
		entries[i].ID = fmt.Sprintf("%s-%d", prefix, i)
	}
	return entries
}
