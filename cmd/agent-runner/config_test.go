package main

import (
	"strings"
	"testing"
)

// TestCompactAtSetting: NANOCLAW_COMPACT_AT defaults to the API's own compaction trigger;
// a value that is not a number, or so small it would summarize after every turn, stops
// the runner with a message naming it.
func TestCompactAtSetting(t *testing.T) {
	cases := []struct {
		value string
		want  int64
		err   string
	}{
		{"", defaultCompactAt, ""},
		{"60000", 60_000, ""},
		{"1000", 1000, ""},
		{"999", 0, "NANOCLAW_COMPACT_AT=999"},
		{"lots", 0, "NANOCLAW_COMPACT_AT"},
		{"-5", 0, "NANOCLAW_COMPACT_AT"},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			env := map[string]string{"HOME": t.TempDir(), "NANOCLAW_COMPACT_AT": tc.value}
			c, err := loadConfig(func(k string) string { return env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || c.compactAt != tc.want {
				t.Fatalf("compactAt %d, %v; want %d", c.compactAt, err, tc.want)
			}
		})
	}
}
