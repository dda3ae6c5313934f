package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		wantErr  string
		wantJSON bool
		debugOut bool
	}{
		{name: "default text info", opts: Options{}},
		{name: "json", opts: Options{Format: "json"}, wantJSON: true},
		{name: "debug", opts: Options{Level: "debug"}, debugOut: true},
		{name: "bad level", opts: Options{Level: "loud"}, wantErr: "LOG_LEVEL"},
		{name: "bad format", opts: Options{Format: "xml"}, wantErr: "LOG_FORMAT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			c.opts.Output = &buf
			l, err := New(c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Named("plugin").Info("hello", "k", "v")
			l.Debug("detail")
			out := buf.String()
			if !strings.Contains(out, "nanoclaw.plugin") {
				t.Errorf("sub-logger name missing: %q", out)
			}
			if c.wantJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &m); err != nil || m["k"] != "v" {
					t.Errorf("not JSON: %q (%v)", out, err)
				}
			}
			if got := strings.Contains(out, "detail"); got != c.debugOut {
				t.Errorf("debug line present = %v, want %v", got, c.debugOut)
			}
		})
	}
}
