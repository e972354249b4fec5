package api

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxEcho bounds how much of a string the client sent (a path, an id, a
// name, a parameter) an error message, an access log line or a log entry
// repeats: a longer one is cut (cut). Ids and names are at most 64
// characters, so only what can match nothing is ever cut.
const maxEcho = 256

// maxMessage bounds a whole error message.
const maxMessage = 4 << 10

// cut returns s when it is at most maxEcho bytes, else its first bytes (up
// to a character boundary) with "…" and the whole length:
// "aaaa…(1048576 bytes)".
func cut(s string) string {
	return cutTo(s, maxEcho)
}

func cutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:i], len(s))
}

// shortMessage bounds an error message for a reply or a log: every quoted
// string in it (the services quote what they echo: `vm "x" not found`)
// longer than maxEcho is cut inside its quotes, `vm "aaaa…(1048576 bytes)"
// not found`, and what is then still over maxMessage is cut as a whole.
func shortMessage(msg string) string {
	if len(msg) <= maxEcho {
		return msg
	}
	var b strings.Builder
	rest := msg
	for {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			b.WriteByte('"')
			rest = rest[1:]
			continue
		}
		rest = rest[len(q):]
		if len(q) > maxEcho+2 {
			if s, err := strconv.Unquote(q); err == nil {
				q = strconv.Quote(cut(s))
			}
		}
		b.WriteString(q)
	}
	return cutTo(b.String(), maxMessage)
}
