package store

import "time"

// TimeLayout is how every timestamp is stored: ISO-8601 UTC with milliseconds, exactly
// JavaScript's toISOString, so NanoClaw's data compares lexically with ours.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Timestamp formats t for the store.
func Timestamp(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTimestamp reads a stored timestamp (any RFC 3339 form is accepted).
func ParseTimestamp(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
