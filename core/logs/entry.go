package logs

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// Spool records are tagged with their entry's source, so that a consumer
// skips the sources it does not take, and a retention bound counts what it
// discards per source, without decoding payloads.
var sourceTags = map[logsink.Source]byte{
	logsink.SourceUI:     1,
	logsink.SourceAudit:  2,
	logsink.SourceSystem: 3,
	logsink.SourceQEMU:   4,
}

// maxTag is the highest record tag a source has.
const maxTag = 4

// tagOf is the record tag of source.
func tagOf(source logsink.Source) byte { return sourceTags[source] }

// sourceOfTag is the source a record tag stands for; "unknown" for a tag
// no source has.
func sourceOfTag(tag byte) logsink.Source {
	for s, t := range sourceTags {
		if t == tag {
			return s
		}
	}
	return "unknown"
}

// Prepare makes e ready for the pipeline: an id (a UUIDv7, which sorts by
// time) when it has none, now as its timestamp when it has none, the
// timestamp in UTC with microsecond precision (what the built-in store
// keeps, so that every destination holds the same value), then validates
// it (logsink.Entry.Validate).
func Prepare(e *logsink.Entry, now time.Time) error {
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("making a log entry id: %w", err)
		}
		e.ID = id.String()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = now
	}
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	return e.Validate()
}
