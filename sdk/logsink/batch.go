package logsink

import (
	"context"
	"fmt"
)

// screened is a batch split into the entries that passed Entry.Validate and
// the results already known for the others.
type screened struct {
	// valid are the entries to pass on.
	valid []Entry
	// idx maps valid[i] to its position in the batch; nil when every entry
	// is valid (valid is then the batch itself).
	idx []int
	// results is one result per entry of the batch, permanent for invalid
	// ones; nil when every entry is valid.
	results []Result
}

// screen validates every entry of a batch.
func screen(entries []Entry) screened {
	first := -1
	for i := range entries {
		if entries[i].Validate() != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return screened{valid: entries}
	}
	s := screened{results: make([]Result, len(entries))}
	for i := range entries {
		if i >= first {
			if err := entries[i].Validate(); err != nil {
				s.results[i] = Result{Outcome: Permanent, Message: err.Error()}
				continue
			}
		}
		s.valid = append(s.valid, entries[i])
		s.idx = append(s.idx, i)
	}
	return s
}

// merge returns the results of the whole batch given got, the results of
// the valid entries.
func (s screened) merge(got []Result) []Result {
	if s.idx == nil && s.results == nil {
		return got
	}
	for i, r := range got {
		s.results[s.idx[i]] = r
	}
	return s.results
}

// write screens entries, writes the valid ones with fn and checks that fn
// answered one result with an outcome per entry.
func write(ctx context.Context, entries []Entry, fn func(context.Context, []Entry) ([]Result, error)) ([]Result, error) {
	s := screen(entries)
	got := []Result{}
	if len(s.valid) > 0 {
		var err error
		if got, err = fn(ctx, s.valid); err != nil {
			return nil, err
		}
	}
	if err := checkResults(got, len(s.valid)); err != nil {
		return nil, err
	}
	return s.merge(got), nil
}

// checkResults checks that a sink answered one set result per entry.
func checkResults(results []Result, n int) error {
	if len(results) != n {
		return fmt.Errorf("log sink answered %d results for %d entries; a sink answers exactly one result per entry", len(results), n)
	}
	for i, r := range results {
		if r.Outcome < Delivered || r.Outcome > Permanent {
			return fmt.Errorf("log sink answered result %d without an outcome (%s); set Delivered, Retryable or Permanent", i, r)
		}
	}
	return nil
}
