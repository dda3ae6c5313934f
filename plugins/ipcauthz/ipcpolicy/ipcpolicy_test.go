package ipcpolicy

import (
	"strings"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

type groups []protocol.Group

func (gs groups) LookupGroup(jid string) (protocol.Group, bool) {
	for _, g := range gs {
		if g.JID == jid {
			return g, true
		}
	}
	return protocol.Group{}, false
}

var registered = groups{
	{JID: "main@s.whatsapp.net", Folder: "main", IsMain: true},
	{JID: "family@g.us", Folder: "family"},
	{JID: "work@g.us", Folder: "work"},
}

// TestDecide ports NanoClaw's ipc-auth tests (shared reference §9) and the §5 matrix.
func TestDecide(t *testing.T) {
	a := New(registered)
	type tc struct {
		name      string
		group     string
		isMain    bool
		dir       string
		taskGroup string
		body      string
		allow     bool
		reason    string
	}
	cases := []tc{
		// messages
		{"main messages any chat", "main", true, "messages", "", `{"type":"message","chatJid":"work@g.us","text":"hi"}`, true, ""},
		{"main messages an unregistered chat", "main", true, "messages", "", `{"type":"message","chatJid":"stranger@s.whatsapp.net","text":"hi"}`, true, ""},
		{"non-main messages its own chat", "family", false, "messages", "", `{"type":"message","chatJid":"family@g.us","text":"hi"}`, true, ""},
		{"non-main messages another group", "family", false, "messages", "", `{"type":"message","chatJid":"work@g.us","text":"hi"}`, false, "own chat"},
		{"non-main messages an unregistered chat", "family", false, "messages", "", `{"type":"message","chatJid":"x@g.us","text":"hi"}`, false, "not registered"},
		{"identity fields in the body are ignored", "family", false, "messages", "", `{"type":"message","chatJid":"work@g.us","text":"hi","groupFolder":"work","isMain":true}`, false, "own chat"},
		{"message without text", "family", false, "messages", "", `{"type":"message","chatJid":"family@g.us"}`, false, `"text" is required`},
		{"message with empty text", "family", false, "messages", "", `{"type":"message","chatJid":"family@g.us","text":"  "}`, false, "must not be empty"},
		{"message with a numeric chatJid", "family", false, "messages", "", `{"type":"message","chatJid":5,"text":"x"}`, false, "must be a string"},
		{"task type in messages/", "main", true, "messages", "", `{"type":"schedule_task"}`, false, "unknown message type"},
		{"message type in tasks/", "main", true, "tasks", "", `{"type":"message","chatJid":"a","text":"b"}`, false, "belong in messages/"},
		// schedule_task
		{"main schedules for another group", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"cron","schedule_value":"0 9 * * *","targetJid":"family@g.us"}`, true, ""},
		{"non-main schedules for itself", "family", false, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"3600000","targetJid":"family@g.us"}`, true, ""},
		{"non-main schedules for another group", "family", false, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"60000","targetJid":"work@g.us"}`, false, "only schedule tasks for itself"},
		{"unregistered target", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"60000","targetJid":"nobody@g.us"}`, false, "not a registered group"},
		{"invalid cron", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"cron","schedule_value":"every day","targetJid":"family@g.us"}`, false, "invalid schedule_value"},
		{"interval under a minute (a flood of firings)", "family", false, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"1","targetJid":"family@g.us"}`, false, "at least a minute"},
		{"update to an interval under a minute", "main", true, "tasks", "task-family", `{"type":"update_task","taskId":"t","schedule_type":"interval","schedule_value":"59999"}`, false, "at least a minute"},
		{"zero interval", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"0","targetJid":"family@g.us"}`, false, "invalid schedule_value"},
		{"non-numeric interval", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"soon","targetJid":"family@g.us"}`, false, "invalid schedule_value"},
		{"interval as a JSON number", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":60000,"targetJid":"family@g.us"}`, true, ""},
		{"invalid once", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"once","schedule_value":"tomorrow","targetJid":"family@g.us"}`, false, "invalid schedule_value"},
		{"valid once", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"once","schedule_value":"2030-01-02T09:00:00","targetJid":"family@g.us"}`, true, ""},
		{"unknown schedule type", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"weekly","schedule_value":"x","targetJid":"family@g.us"}`, false, "must be one of"},
		{"missing prompt", "main", true, "tasks", "", `{"type":"schedule_task","schedule_type":"interval","schedule_value":"60000","targetJid":"family@g.us"}`, false, `"prompt" is required`},
		{"any context_mode is kept for the host to coerce", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"60000","targetJid":"family@g.us","context_mode":"bogus"}`, true, ""},
		{"bad task id", "main", true, "tasks", "", `{"type":"schedule_task","prompt":"p","schedule_type":"interval","schedule_value":"60000","targetJid":"family@g.us","taskId":"../x"}`, false, "valid task id"},
		// pause / resume / cancel / update
		{"main pauses any task", "main", true, "tasks", "work", `{"type":"pause_task","taskId":"t1"}`, true, ""},
		{"non-main resumes its own task", "family", false, "tasks", "family", `{"type":"resume_task","taskId":"t1"}`, true, ""},
		{"non-main cancels another's task", "family", false, "tasks", "work", `{"type":"cancel_task","taskId":"t1"}`, false, "its own tasks"},
		{"unknown task", "main", true, "tasks", "", `{"type":"cancel_task","taskId":"t1"}`, false, "no such task"},
		{"missing task id", "main", true, "tasks", "work", `{"type":"pause_task"}`, false, `"taskId" is required`},
		{"update own task", "family", false, "tasks", "family", `{"type":"update_task","taskId":"t1","prompt":"new","schedule_type":"cron","schedule_value":"*/5 * * * *"}`, true, ""},
		{"update with a bad cron", "family", false, "tasks", "family", `{"type":"update_task","taskId":"t1","schedule_type":"cron","schedule_value":"61 * * * *"}`, false, "invalid schedule_value"},
		{"update another group's task", "family", false, "tasks", "work", `{"type":"update_task","taskId":"t1","prompt":"x"}`, false, "its own tasks"},
		// list, refresh, register
		{"list tasks", "family", false, "tasks", "", `{"type":"list_tasks"}`, true, "own"},
		{"non-main refresh_groups", "family", false, "tasks", "", `{"type":"refresh_groups"}`, false, "only the main group"},
		{"main refresh_groups", "main", true, "tasks", "", `{"type":"refresh_groups"}`, true, ""},
		{"non-main available_groups", "family", false, "tasks", "", `{"type":"available_groups"}`, false, "only the main group"},
		{"main available_groups", "main", true, "tasks", "", `{"type":"available_groups"}`, true, ""},
		{"non-main register_group", "family", false, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"n","trigger":"@Andy"}`, false, "only the main group"},
		{"main registers a group", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"whatsapp_new-group","trigger":"@Andy","requiresTrigger":true}`, true, ""},
		{"unsafe folder", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"../../etc","trigger":"@Andy"}`, false, "folder"},
		{"reserved folder", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"Global","trigger":"@Andy"}`, false, "folder"},
		{"missing fields", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us"}`, false, "required"},
		{"cannot grant main", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"n","trigger":"@Andy","isMain":true}`, false, "cannot make a group main"},
		// shape
		{"unknown type", "main", true, "tasks", "", `{"type":"format_disk"}`, false, "unknown IPC task type"},
		{"no type", "main", true, "tasks", "", `{"chatJid":"x"}`, false, `"type" is required`},
		{"not an object", "main", true, "tasks", "", `["type"]`, false, "JSON object"},
		{"not JSON", "main", true, "tasks", "", `{"type":`, false, "not valid JSON"},
		{"duplicate keys", "family", false, "messages", "", `{"type":"message","chatJid":"family@g.us","chatJid":"work@g.us","text":"x"}`, false, "repeats the key"},
		{"duplicate nested keys", "main", true, "tasks", "", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"n","trigger":"@A","containerConfig":{"a":1,"a":2}}`, false, "repeats the key"},
		{"unknown directory", "main", true, "input", "", `{"type":"list_tasks"}`, false, "unknown IPC directory"},
		{"invalid source folder", "../main", true, "tasks", "", `{"type":"list_tasks"}`, false, "invalid group folder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := a.Decide(&protocol.IPCRequest{Group: c.group, IsMain: c.isMain, Dir: c.dir, TaskGroup: c.taskGroup, Request: []byte(c.body)})
			if v.Allow != c.allow {
				t.Fatalf("allow = %v (%s), want %v", v.Allow, v.Reason, c.allow)
			}
			if !strings.Contains(v.Reason, c.reason) {
				t.Fatalf("reason %q does not mention %q", v.Reason, c.reason)
			}
		})
	}
}

func TestValidFolder(t *testing.T) {
	for f, want := range map[string]bool{
		"main": true, "family-chat": true, "Team_42": true, "a": true, strings.Repeat("a", 64): true,
		"": false, "../../etc": false, "/tmp": false, "global": false, "GLOBAL": false, "-x": false,
		"_x": false, "a b": false, strings.Repeat("a", 65): false, "a.b": false, "ünï": false,
	} {
		if got := ValidFolder(f); got != want {
			t.Errorf("ValidFolder(%q) = %v, want %v", f, got, want)
		}
	}
}

// TestLongFieldDenyFitsTheVerdictCap: a deny quoting a long, escape-heavy field the agent
// sent stays a deny under the host's 16 KiB verdict cap, never a fault.
func TestLongFieldDenyFitsTheVerdictCap(t *testing.T) {
	a := New(registered)
	long := strings.Repeat(`\u0001`, 20000)
	for _, c := range []struct{ name, dir, body string }{
		{"unknown type", "messages", `{"type":"` + long + `"}`},
		{"unknown task type", "tasks", `{"type":"` + long + `"}`},
		{"message to a long JID", "messages", `{"type":"message","chatJid":"` + long + `","text":"x"}`},
		{"register a long folder", "tasks", `{"type":"register_group","jid":"n@g.us","name":"N","folder":"` + long + `","trigger":"@A"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := a.Decide(&protocol.IPCRequest{Group: "family", Dir: c.dir, Request: []byte(c.body)})
			if v.Allow || v.Reason == "" {
				t.Fatalf("verdict %+v, want a deny with a reason", v)
			}
			if n := len(v.AppendJSON(nil)); n > 16<<10 {
				t.Fatalf("verdict is %d bytes, over the host's 16 KiB cap", n)
			}
		})
	}
}
