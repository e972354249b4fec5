package store

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// A cursor names the last VM of a page by its place in the (created_at, id)
// order: base64url of "<created_at in sqliteTimeFormat>|<id>". Clients treat
// it as opaque.

// encodeCursor returns the cursor of the page that ends at (createdAt, id).
func encodeCursor(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(createdAt.UTC().Format(sqliteTimeFormat) + "|" + id))
}

// decodeCursor parses a cursor made by encodeCursor.
func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: malformed cursor: not base64url", ErrInvalid)
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" {
		return time.Time{}, "", fmt.Errorf("%w: malformed cursor: no id", ErrInvalid)
	}
	t, err := time.Parse(sqliteTimeFormat, ts)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: malformed cursor: bad time", ErrInvalid)
	}
	return t, id, nil
}
