package syslog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// SDID is the SD-ID of the structured data element every message carries:
// the entry's id and the attributes that have no place in the RFC 5424
// header. 32473 is the private enterprise number RFC 5612 reserves for
// documentation and examples.
const SDID = "quantix@32473"

// timeFormat is the RFC 5424 TIMESTAMP: UTC, at most 6 fractional digits
// (TIME-SECFRAC), which is why a timestamp loses its nanoseconds.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// bom starts a MSG encoded in UTF-8 (RFC 5424 section 6.4); pure ASCII
// messages go without it.
var bom = []byte{0xEF, 0xBB, 0xBF}

// Severity returns the RFC 5424 severity of a level: debug 7, info 6,
// warn 4 (warning), error 3.
func Severity(l logsink.Level) int {
	switch l {
	case logsink.LevelDebug:
		return 7
	case logsink.LevelWarn:
		return 4
	case logsink.LevelError:
		return 3
	default:
		return 6
	}
}

// sdParam is one SD-PARAM, taken from an entry when not empty.
type sdParam struct {
	name  string
	value func(*logsink.Entry) string
}

// sdParams are the SD-PARAMs of the quantix element, in order; the id is
// always there.
var sdParams = []sdParam{
	{"id", func(e *logsink.Entry) string { return e.ID }},
	{"component", func(e *logsink.Entry) string { return string(e.Component) }},
	{"vm_id", func(e *logsink.Entry) string { return e.VMID }},
	{"node_id", func(e *logsink.Entry) string { return e.NodeID }},
	{"user_id", func(e *logsink.Entry) string { return e.UserID }},
	{"session_id", func(e *logsink.Entry) string { return e.SessionID }},
	{"correlation_id", func(e *logsink.Entry) string { return e.CorrelationID }},
	{"action", func(e *logsink.Entry) string { return e.Action }},
	{"target", func(e *logsink.Entry) string { return e.Target }},
	{"user_action", func(e *logsink.Entry) string {
		if e.UserAction {
			return "true"
		}
		return ""
	}},
	{"fields", func(e *logsink.Entry) string {
		if !e.HasFields() {
			return ""
		}
		var b bytes.Buffer
		if err := json.Compact(&b, e.Fields); err != nil {
			return string(e.Fields)
		}
		return b.String()
	}},
}

// appendMessage appends e as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [quantix@32473 id="..." ...] MSG
//
// PRI is facility*8 plus the level's severity, MSGID the entry's source;
// the MSG is left out when the message is empty.
func appendMessage(b []byte, s *settings, e *logsink.Entry) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+Severity(e.Level)), 10)
	b = append(b, ">1 "...)
	b = e.Timestamp.UTC().AppendFormat(b, timeFormat)
	b = append(b, ' ')
	b = append(b, s.hostname...)
	b = append(b, ' ')
	b = append(b, s.appName...)
	b = append(b, " - "...)
	b = appendMsgID(b, string(e.Source))
	b = append(b, " ["...)
	b = append(b, SDID...)
	for _, p := range sdParams {
		v := p.value(e)
		if v == "" && p.name != "id" {
			continue
		}
		b = append(b, ' ')
		b = append(b, p.name...)
		b = append(b, `="`...)
		b = appendParamValue(b, v)
		b = append(b, '"')
	}
	b = append(b, ']')
	if e.Message != "" {
		b = append(b, ' ')
		if !isASCII(e.Message) {
			b = append(b, bom...)
		}
		b = append(b, e.Message...)
	}
	return b
}

// appendMsgID appends a MSGID: at most 32 printable ASCII characters, "-"
// when there are none.
func appendMsgID(b []byte, id string) []byte {
	n := 0
	for i := 0; i < len(id) && n < 32; i++ {
		if id[i] >= 33 && id[i] <= 126 {
			b = append(b, id[i])
			n++
		}
	}
	if n == 0 {
		b = append(b, '-')
	}
	return b
}

// appendParamValue appends a PARAM-VALUE, escaping '"', '\' and ']' with
// a backslash (RFC 5424 section 6.3.3). Values are valid UTF-8 (entries are
// validated); anything else is replaced.
func appendParamValue(b []byte, v string) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' || c == ']' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		b = utf8.AppendRune(b, r)
		i += size
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendFrame appends msg with octet-counting framing: its length in
// decimal, a space, then the message.
func appendFrame(b, msg []byte) []byte {
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}
