package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestRegisteredGroupRoundTrip(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		g    Group
	}{
		{"main (db.test.ts isMain)", Group{JID: "main@s.whatsapp.net", Name: "Main Chat", Folder: "whatsapp_main", Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", IsMain: true, RequiresTrigger: true}},
		{"non-main", Group{JID: "group@g.us", Name: "Family Chat", Folder: "whatsapp_family-chat", Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true}},
		{"no trigger required", Group{JID: "g2@g.us", Name: "Dev", Folder: "Team_42", Trigger: "@Claw", AddedAt: "2024-01-01T00:00:00.000Z"}},
		{"container config", Group{JID: "g3@g.us", Name: "Cfg", Folder: "cfg", Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true,
			ContainerConfig: json.RawMessage(`{"additionalMounts":[{"hostPath":"~/x","readonly":true}],"timeout":60000}`)}},
		{"apostrophes (setup register test)", Group{JID: "o'brien@g.us", Name: "Bob's '); DROP TABLE registered_groups; --", Folder: "bobs", Trigger: "@Andy's", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t)
			if err := s.SetRegisteredGroup(ctx, c.g); err != nil {
				t.Fatal(err)
			}
			all, err := s.RegisteredGroups(ctx)
			if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], c.g) {
				t.Errorf("RegisteredGroups = %+v %v, want %+v", all, err, c.g)
			}
			byJID, ok, err := s.RegisteredGroup(ctx, c.g.JID)
			if err != nil || !ok || !reflect.DeepEqual(byJID, c.g) {
				t.Errorf("RegisteredGroup = %+v %v %v", byJID, ok, err)
			}
			byFolder, ok, err := s.GroupByFolder(ctx, c.g.Folder)
			if err != nil || !ok || !reflect.DeepEqual(byFolder, c.g) {
				t.Errorf("GroupByFolder = %+v %v %v", byFolder, ok, err)
			}
			var cfg any
			if err := s.r.QueryRow(`SELECT container_config FROM registered_groups`).Scan(&cfg); err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != (c.g.ContainerConfig == nil) {
				t.Errorf("container_config column = %v", cfg)
			}
		})
	}
}

func TestSetRegisteredGroupRejects(t *testing.T) {
	ctx := context.Background()
	base := Group{JID: "g@g.us", Name: "G", Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true}
	cases := []struct {
		folder string
		cfg    string
		want   error
	}{
		{folder: "../../etc", want: ErrInvalidFolder},
		{folder: "/tmp", want: ErrInvalidFolder},
		{folder: "global", want: ErrInvalidFolder},
		{folder: "GLOBAL", want: ErrInvalidFolder},
		{folder: "", want: ErrInvalidFolder},
		{folder: " main", want: ErrInvalidFolder},
		{folder: "_x", want: ErrInvalidFolder},
		{folder: strings.Repeat("a", 65), want: ErrInvalidFolder},
		{folder: "ok", cfg: `{broken`},
	}
	for _, c := range cases {
		t.Run(c.folder, func(t *testing.T) {
			s := openTest(t)
			gr := base
			gr.Folder = c.folder
			if c.cfg != "" {
				gr.ContainerConfig = json.RawMessage(c.cfg)
			}
			err := s.SetRegisteredGroup(ctx, gr)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if all, _ := s.RegisteredGroups(ctx); len(all) != 0 {
				t.Errorf("stored %+v", all)
			}
		})
	}
}

func TestSetRegisteredGroupUpsertAndFolderClash(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	a := Group{JID: "a@g.us", Name: "A", Folder: "alpha", Trigger: "@Andy", AddedAt: "2024-01-01T00:00:00.000Z", RequiresTrigger: true}
	if err := s.SetRegisteredGroup(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Same JID: the registration is updated in place.
	a.Name, a.Folder, a.RequiresTrigger = "A2", "alpha2", false
	if err := s.SetRegisteredGroup(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Another JID claiming that folder is refused, and A keeps it.
	err := s.SetRegisteredGroup(ctx, Group{JID: "b@g.us", Name: "B", Folder: "alpha2", Trigger: "@Andy", AddedAt: "x"})
	if !errors.Is(err, ErrFolderTaken) {
		t.Errorf("err = %v, want ErrFolderTaken", err)
	}
	all, err := s.RegisteredGroups(ctx)
	if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], a) {
		t.Errorf("groups = %+v %v, want only %+v", all, err, a)
	}
	if err := s.DeleteRegisteredGroup(ctx, "a@g.us"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.RegisteredGroup(ctx, "a@g.us"); ok || err != nil {
		t.Errorf("after delete: %v %v", ok, err)
	}
	if _, ok, err := s.GroupByFolder(ctx, "nope"); ok || err != nil {
		t.Errorf("missing folder: %v %v", ok, err)
	}
}

// Rows with an invalid folder (written by hand, or by an older program) are skipped and
// logged; rows NanoClaw left with NULL requires_trigger need a trigger.
func TestRegisteredGroupsSkipsInvalidRows(t *testing.T) {
	ctx := context.Background()
	var logBuf bytes.Buffer
	s := openTest(t, WithLogger(hclog.New(&hclog.LoggerOptions{Output: &logBuf, Level: hclog.Warn})))
	for _, q := range []string{
		`INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at) VALUES ('bad@g.us', 'Bad', '../escape', '@Andy', '2024')`,
		`INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at) VALUES ('glob@g.us', 'Glob', 'Global', '@Andy', '2024')`,
		`INSERT INTO registered_groups (jid, name, folder, trigger_pattern, added_at, requires_trigger, container_config)
			VALUES ('ok@g.us', 'OK', 'ok', '@Andy', '2024', NULL, '{oops')`,
		`INSERT INTO chats (jid, name, last_message_time, channel, is_group) VALUES ('bad@g.us', 'Bad', '2024', 'whatsapp', 1)`,
	} {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.RegisteredGroups(ctx)
	if err != nil || len(all) != 1 || all[0].JID != "ok@g.us" {
		t.Fatalf("groups = %+v %v", all, err)
	}
	if !all[0].RequiresTrigger || all[0].ContainerConfig != nil {
		t.Errorf("ok@g.us = %+v: NULL requires_trigger means required; unreadable config dropped", all[0])
	}
	if _, ok, err := s.RegisteredGroup(ctx, "bad@g.us"); ok || err != nil {
		t.Errorf("invalid row returned by jid: %v %v", ok, err)
	}
	if _, ok, err := s.GroupByFolder(ctx, "../escape"); ok || err != nil {
		t.Errorf("invalid row returned by folder: %v %v", ok, err)
	}
	if av, _ := s.AvailableGroups(ctx); len(av) != 1 || av[0].IsRegistered {
		t.Errorf("available = %+v: an unusable registration is not registered", av)
	}
	out := logBuf.String()
	for _, want := range []string{"invalid folder", "../escape", "Global", "container_config"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
