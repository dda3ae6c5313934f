package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

// TestGroupsQuoteReplies: quoting is unset (the default) after a plain add, set by
// `groups add --quote-replies` or `groups set`, kept by an add that does not mention it, and
// shown by `groups list --json`.
func TestGroupsQuoteReplies(t *testing.T) {
	work := t.TempDir()
	root, err := plugintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	copyTemplates(t, root, work)
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config"), "ASSISTANT_NAME": "Claw", "TZ": "UTC"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"add", []string{"groups", "add", "--jid", "120363@g.us", "--folder", "family"}, 0, "registered"},
		{"default", []string{"groups", "list", "--json"}, 0, `"QuoteReplies": null`},
		{"set off", []string{"groups", "set", "--jid", "120363@g.us", "--quote-replies=false"}, 0, "120363@g.us: quoting replies off"},
		{"off", []string{"groups", "list", "--json"}, 0, `"QuoteReplies": false`},
		{"add again keeps it", []string{"groups", "add", "--jid", "120363@g.us", "--folder", "family", "--name", "Fam"}, 0, "registered"},
		{"still off", []string{"groups", "list", "--json"}, 0, `"QuoteReplies": false`},
		{"set on", []string{"groups", "set", "--jid", "120363@g.us", "--quote-replies"}, 0, "quoting replies on"},
		{"on", []string{"groups", "list", "--json"}, 0, `"QuoteReplies": true`},
		{"table", []string{"groups", "list"}, 0, "QUOTES"},
		{"add a DM quoting", []string{"groups", "add", "--jid", "15551234567@s.whatsapp.net", "--folder", "me", "--quote-replies"}, 0, "registered"},
		{"nothing to set", []string{"groups", "set", "--jid", "120363@g.us"}, 2, "nothing to change"},
		{"set without jid", []string{"groups", "set", "--quote-replies"}, 2, "--jid is required"},
		{"set unknown", []string{"groups", "set", "--jid", "999@g.us", "--quote-replies"}, 1, "999@g.us is not registered"},
		{"bad value", []string{"groups", "set", "--jid", "120363@g.us", "--quote-replies=maybe"}, 2, "maybe"},
	} {
		out, code := cli(t, work, vars, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Fatalf("%s: exit %d, want %d; output:\n%s\nwant it to contain %q", tc.name, code, tc.code, out, tc.out)
		}
	}
	out, _ := cli(t, work, vars, "groups", "list", "--json")
	if strings.Count(out, `"QuoteReplies": true`) != 2 {
		t.Fatalf("want both chats quoting:\n%s", out)
	}
}
