package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/quantixvm/quantix/client"
)

func logsCommand() *command {
	return &command{
		name:    "logs",
		summary: "query, follow and export the log store",
		help: `UI actions, audit entries of every mutating API call, the daemon's own log and
QEMU log lines share one log store. Every logs command takes the same filters.
`,
		subs: []*command{logsQueryCommand(), logsTailCommand(), logsExportCommand()},
	}
}

// logFilterFlags are the filters every logs command takes.
type logFilterFlags struct {
	level, vm, node, correlation, session, userAction, search, since, until string
	sources, components                                                     listFlag
}

func addLogFilterFlags(fs *flag.FlagSet) *logFilterFlags {
	f := &logFilterFlags{}
	fs.StringVar(&f.level, "level", "", "minimum `level`: debug, info, warn or error")
	fs.Var(&f.sources, "source", "only entries from `source`: ui, audit, system or qemu (comma-separated or repeated)")
	fs.Var(&f.components, "component", "only entries about `component`, e.g. vm, node, logs (comma-separated or repeated)")
	fs.StringVar(&f.vm, "vm", "", "only entries about `vm` (name or id)")
	fs.StringVar(&f.node, "node", "", "only entries of `node` (name or id)")
	fs.StringVar(&f.correlation, "correlation-id", "", "only entries of the operation `id` (an API request id)")
	fs.StringVar(&f.session, "session-id", "", "only entries of the front-end session `id`")
	fs.StringVar(&f.userAction, "user-action", "", "only entries that are (true) or are not (false) user actions")
	fs.StringVar(&f.search, "search", "", "only entries with `text` in their message, action or target")
	fs.StringVar(&f.since, "since", "", "only entries at or after `time`: RFC 3339, or a duration such as 15m meaning that long ago")
	fs.StringVar(&f.until, "until", "", "only entries before `time`: RFC 3339, or a duration such as 1h meaning that long ago")
	return f
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// filter turns the flags into the API's filter: VM and node names become
// ids. An id the API no longer knows (a removed record) is used as it is.
func (f *logFilterFlags) filter(ctx context.Context, a *app) (client.LogFilter, error) {
	out := client.LogFilter{
		Level: f.level, CorrelationID: f.correlation, SessionID: f.session,
		Text: f.search, Since: f.since, Until: f.until,
	}
	for _, s := range f.sources {
		out.Sources = append(out.Sources, splitList(s)...)
	}
	for _, c := range f.components {
		out.Components = append(out.Components, splitList(c)...)
	}
	if f.userAction != "" {
		b, err := strconv.ParseBool(f.userAction)
		if err != nil {
			return out, usagef("-user-action %q: want true or false", f.userAction)
		}
		out.UserAction = &b
	}
	if f.vm != "" {
		v, err := a.api.GetVM(ctx, f.vm)
		switch {
		case err == nil:
			out.VMID = v.ID
		case client.IsNotFound(err) && uuidRE.MatchString(f.vm):
			out.VMID = f.vm
		default:
			return out, err
		}
	}
	if f.node != "" {
		n, err := a.api.GetNode(ctx, f.node)
		switch {
		case err == nil:
			out.NodeID = n.ID
		case client.IsNotFound(err) && uuidRE.MatchString(f.node):
			out.NodeID = f.node
		default:
			return out, err
		}
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

const logFilterHelp = `
Filters: -level is a minimum; -source and -component take several values;
-vm and -node take names or ids; -since and -until take RFC 3339 times or
durations meaning that long ago (15m, 2h).`

func logsQueryCommand() *command {
	return &command{
		name:    "query",
		summary: "query the log store",
		help: `Prints the log entries that match the filters (GET /api/logs), newest first
unless -order asc, following the API's pages up to -limit entries. When more
match, the cursor to continue from is printed on stderr.
With -output json, prints the API's entries as a JSON array.
` + logFilterHelp + `

examples:
  quantix logs query -vm web-1 -since 1h
  quantix logs query -source audit -level warn -limit 20`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			ff := addLogFilterFlags(fs)
			limit := fs.Int("limit", 100, "at most `n` entries")
			cursor := fs.String("cursor", "", "continue from `cursor`, as printed by an earlier query")
			order := fs.String("order", "desc", "`order`: desc (newest first) or asc")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				if *limit < 1 {
					return usagef("-limit %d: must be at least 1", *limit)
				}
				if *order != "asc" && *order != "desc" {
					return usagef("-order %q: must be asc or desc", *order)
				}
				f, err := ff.filter(ctx, a)
				if err != nil {
					return err
				}
				q := client.LogQuery{LogFilter: f, Cursor: *cursor, Order: *order}
				var entries []client.LogEntry
				more, next := false, ""
				for len(entries) < *limit {
					q.Limit = min(*limit-len(entries), 1000)
					page, err := a.api.QueryLogs(ctx, q)
					if err != nil {
						return err
					}
					entries = append(entries, page.Logs...)
					more, next = page.HasMore, page.NextCursor
					if !page.HasMore || page.NextCursor == "" || len(page.Logs) == 0 {
						break // an empty page that says there is more would loop
					}
					q.Cursor = page.NextCursor
				}
				if a.jsonOutput() {
					err = printJSON(a.stdout, rawList(entries, func(e *client.LogEntry) json.RawMessage { return e.Raw }))
				} else {
					err = logTable(a.stdout, entries)
				}
				if err != nil {
					return err
				}
				if len(entries) == 0 && !a.jsonOutput() {
					fmt.Fprintln(a.stderr, "no log entries match")
				}
				if more && next != "" {
					fmt.Fprintf(a.stderr, "more entries match: continue with -cursor %s\n", next)
				}
				return nil
			}
		},
	}
}

// logTable writes entries as a table.
func logTable(w io.Writer, entries []client.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	t := newTable(w, "TIME", "LEVEL", "SOURCE", "COMPONENT", "MESSAGE")
	for _, e := range entries {
		t.row(stampMilli(e.Timestamp), strings.ToUpper(e.Level), e.Source, e.Component, firstLine(e.Message))
	}
	return t.flush()
}

// logLine writes one entry in fixed columns, as tail does.
func logLine(w io.Writer, e *client.LogEntry) error {
	msg := strings.ReplaceAll(strings.ReplaceAll(e.Message, "\r\n", "\n"), "\n", "\n\t")
	_, err := fmt.Fprintf(w, "%s  %-5s  %-6s  %-10s  %s\n", stampMilli(e.Timestamp), strings.ToUpper(e.Level), cell(e.Source), cell(e.Component), msg)
	return err
}

func logsTailCommand() *command {
	return &command{
		name:    "tail",
		summary: "show the latest log entries, and follow new ones",
		help: `Prints the last -n entries that match the filters, oldest first, one a line;
with -f, then follows new matching entries (GET /api/logs/stream) until Ctrl-C.
With -output json, prints each entry as one JSON line.
` + logFilterHelp + `

examples:
  quantix logs tail -f -source qemu -vm web-1
  quantix logs tail -n 50 -level error`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			ff := addLogFilterFlags(fs)
			n := fs.Int("n", 20, "how many `entries` to show first (0..1000)")
			follow := fs.Bool("f", false, "follow new entries until Ctrl-C")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				if *n < 0 || *n > 1000 {
					return usagef("-n %d: must be between 0 and 1000", *n)
				}
				a.following = *follow
				f, err := ff.filter(ctx, a)
				if err != nil {
					return err
				}
				print := func(e *client.LogEntry) error {
					if a.jsonOutput() {
						return printJSONLine(a.stdout, e.Raw)
					}
					return logLine(a.stdout, e)
				}
				// The stream opens first, so that nothing is missed between
				// the query and it; what both return is printed once.
				var ls *client.LogStream
				if *follow {
					if ls, err = a.api.StreamLogs(ctx, f); err != nil {
						return err
					}
					defer ls.Close()
				}
				seen := map[string]bool{}
				if *n > 0 {
					page, err := a.api.QueryLogs(ctx, client.LogQuery{LogFilter: f, Limit: *n, Order: "desc"})
					if err != nil {
						return err
					}
					slices.Reverse(page.Logs)
					for i := range page.Logs {
						seen[page.Logs[i].ID] = true
						if err := print(&page.Logs[i]); err != nil {
							return err
						}
					}
				}
				if ls == nil {
					return nil
				}
				return a.readLogStream(ctx, ls, seen, print)
			}
		},
	}
}

// readLogStream prints the entries of ls, but those in seen, until ctx
// ends (nil) or the stream fails.
func (a *app) readLogStream(ctx context.Context, ls *client.LogStream, seen map[string]bool, print func(*client.LogEntry) error) error {
	for {
		ev, err := ls.Next()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return errors.New("the server ended the log stream")
		case err != nil:
			return err
		}
		switch ev.Kind {
		case client.KindLog:
			if seen[ev.Entry.ID] {
				delete(seen, ev.Entry.ID)
				continue
			}
			if err := print(ev.Entry); err != nil {
				return err
			}
		case client.KindGap:
			fmt.Fprintf(a.stderr, "quantix: %s\n", ev.Gap.Message)
		}
	}
}

func logsExportCommand() *command {
	return &command{
		name:    "export",
		summary: "export log entries as JSON, CSV or text",
		help: `Writes every entry that matches the filters, oldest first unless -order desc,
as it streams from the server (GET /api/logs/export): json (an array), csv
(a header row, then one row an entry) or txt ("[time] [LEVEL] [source] message").
-output does not apply: the format is -format.
` + logFilterHelp + `

examples:
  quantix logs export -format csv -since 24h -o logs.csv
  quantix logs export -format txt -vm web-1 | less`,
		setup: func(a *app, fs *flag.FlagSet) runner {
			ff := addLogFilterFlags(fs)
			format := fs.String("format", "json", "`format`: json, csv or txt")
			order := fs.String("order", "asc", "`order`: asc (oldest first) or desc")
			limit := fs.Int("limit", 0, "stop after `n` entries (default: every match)")
			out := fs.String("o", "", "write to `file` instead of the standard output")
			return func(ctx context.Context, args []string) error {
				if err := exactArgs(args); err != nil {
					return err
				}
				switch *format {
				case "json", "csv", "txt":
				default:
					return usagef("-format %q: must be json, csv or txt", *format)
				}
				if *order != "asc" && *order != "desc" {
					return usagef("-order %q: must be asc or desc", *order)
				}
				if *limit < 0 {
					return usagef("-limit %d: must not be negative", *limit)
				}
				f, err := ff.filter(ctx, a)
				if err != nil {
					return err
				}
				body, err := a.api.ExportLogs(ctx, f, client.ExportOptions{Format: *format, Order: *order, Limit: *limit})
				if err != nil {
					return err
				}
				defer body.Close()
				return copyExport(ctx, a.stdout, *out, body)
			}
		},
	}
}

// copyExport writes an export to path, or to stdout when path is empty; a
// file cut short by a failure is removed.
func copyExport(ctx context.Context, stdout io.Writer, path string, body io.Reader) error {
	if path == "" {
		if _, err := io.Copy(stdout, body); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the export: %w", err)
		}
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the export file: %w", err)
	}
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("exporting to %s: %w", path, err)
	}
	return nil
}
