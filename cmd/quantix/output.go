package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v as indented JSON. json.RawMessage values (the API's
// objects as they came) are written as they are, re-indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

// printJSONLine writes one JSON value on one line, as follow modes do.
func printJSONLine(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

// rawList collects the API's objects into a JSON array; an empty list is
// [] rather than null.
func rawList[T any](items []T, raw func(*T) json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(items))
	for i := range items {
		out = append(out, raw(&items[i]))
	}
	return out
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row writes one row; tabs and line breaks in cells become spaces so that
// they cannot break the columns.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

var cellReplacer = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")

func cell(s string) string {
	s = cellReplacer.Replace(s)
	if s == "" {
		return "-"
	}
	return s
}

// firstLine returns the first line of s, marked when more follow.
func firstLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// now is the clock of relative times; tests may move it.
var now = time.Now

// ago says how long ago t was, roughly: "just now", "42s ago", "3m ago",
// "5h ago", "12d ago"; older than a year, the date. A time ahead of this
// machine's clock is "in 3m".
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now().Sub(t)
	suffix := " ago"
	prefix := ""
	if d < 0 {
		d = -d
		suffix, prefix = "", "in "
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%s%ds%s", prefix, int(d/time.Second), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%s%dm%s", prefix, int(d/time.Minute), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%s%dh%s", prefix, int(d/time.Hour), suffix)
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%s%dd%s", prefix, int(d/(24*time.Hour)), suffix)
	}
	return t.Local().Format("2006-01-02")
}

// agoPtr is ago of an optional time; nil is "never".
func agoPtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return ago(*t)
}

// stamp is a time in this machine's zone, to the second.
func stamp(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05")
}

// stampMilli is a time in this machine's zone, to the millisecond, for
// log lines.
func stampMilli(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// when is a time with how long ago it was: "2026-01-18 10:00:03 (3m ago)".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return stamp(*t) + " (" + ago(*t) + ")"
}

// mib formats a size in MiB: "64 MiB", "2 GiB", "1.5 GiB".
func mib(n uint64) string {
	switch {
	case n >= 1024*1024 && n%(1024*1024) == 0:
		return fmt.Sprintf("%d TiB", n/(1024*1024))
	case n >= 1024 && n%1024 == 0:
		return fmt.Sprintf("%d GiB", n/1024)
	case n >= 1024:
		return fmt.Sprintf("%.1f GiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d MiB", n)
}

// bytesSize formats a size in bytes.
func bytesSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	case n < 1024*1024*1024:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1024*1024*1024))
}

// yesNo formats a boolean.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
