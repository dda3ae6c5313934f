package relaypolicy

import (
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

func TestDecide(t *testing.T) {
	own := &protocol.Group{Folder: "main", JID: "local:main"}
	for _, c := range []struct {
		name    string
		content string
		fromMe  bool
		bot     bool
		group   *protocol.Group
		want    protocol.RouteVerdict
	}{
		{"relayed", ">>family dinner at 8?", false, false, own, deliver("family")},
		{"newline after folder", ">>work\nthe report", false, false, own, deliver("work")},
		{"digits dash underscore", ">>team-2_b hi", false, false, own, deliver("team-2_b")},
		{"from an unregistered chat", ">>family hi", false, false, nil, deliver("family")},
		{"own message in a registered chat", ">>family hi", true, false, own, deliver("family")},
		{"no prefix", "family dinner", false, false, own, protocol.RouteVerdict{}},
		{"prefix later", "hey >>family hi", false, false, own, protocol.RouteVerdict{}},
		{"bare target", ">>family", false, false, own, protocol.RouteVerdict{}},
		{"target and spaces only", ">>family   ", false, false, own, protocol.RouteVerdict{}},
		{"no folder", ">> hi", false, false, own, protocol.RouteVerdict{}},
		{"upper case", ">>Family hi", false, false, own, protocol.RouteVerdict{}},
		{"dot dot", ">>../main hi", false, false, own, protocol.RouteVerdict{}},
		{"slash", ">>a/b hi", false, false, own, protocol.RouteVerdict{}},
		{"too long", ">>" + strings.Repeat("a", 65) + " hi", false, false, own, protocol.RouteVerdict{}},
		{"longest", ">>" + strings.Repeat("a", 64) + " hi", false, false, own, deliver(strings.Repeat("a", 64))},
		{"the assistant's own reply", ">>family hi", false, true, own, protocol.RouteVerdict{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := &protocol.RouteRequest{Message: protocol.Message{Content: c.content, IsFromMe: c.fromMe, IsBotMessage: c.bot}, Group: c.group}
			if got := Decide(req); got != c.want {
				t.Errorf("Decide(%q) = %+v, want %+v", c.content, got, c.want)
			}
		})
	}
}

func deliver(folder string) protocol.RouteVerdict {
	return protocol.RouteVerdict{Action: protocol.ActionDeliver, Group: folder, Reason: "relayed with >>" + folder}
}

// FuzzDecide: a verdict is no decision or a delivery to a folder name the message spelled
// right after the prefix, never a path.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{">>family hi", ">>", ">>a b", ">>../x y", "hello"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, content string, bot bool) {
		v := Decide(&protocol.RouteRequest{Message: protocol.Message{Content: content, IsBotMessage: bot}, Group: &protocol.Group{Folder: "main"}})
		switch v.Action {
		case protocol.ActionNone:
			return
		case protocol.ActionDeliver:
			if bot || v.Group == "" || !strings.HasPrefix(content, Prefix+v.Group) || strings.ContainsAny(v.Group, "/. \\") {
				t.Fatalf("Decide(%q) = %+v", content, v)
			}
		default:
			t.Fatalf("Decide(%q) = %+v: an action the relay never takes", content, v)
		}
	})
}
