package ipc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nanoclaw/nanoclaw-go/host/atomicfile"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// SnapshotTask is one entry of current_tasks.json, in NanoClaw's shape (the agent runner's
// list_tasks reads it).
type SnapshotTask struct {
	ID            string  `json:"id"`
	GroupFolder   string  `json:"groupFolder"`
	Prompt        string  `json:"prompt"`
	Script        string  `json:"script,omitempty"`
	ScheduleType  string  `json:"schedule_type"`
	ScheduleValue string  `json:"schedule_value"`
	Status        string  `json:"status"`
	NextRun       *string `json:"next_run"`
}

// WriteTasksSnapshot writes data/ipc/<folder>/current_tasks.json: every task for the main
// group, the group's own tasks otherwise.
func WriteTasksSnapshot(ipcDir, folder string, isMain bool, tasks []store.Task) error {
	list := []SnapshotTask{}
	for _, t := range tasks {
		if !isMain && t.GroupFolder != folder {
			continue
		}
		s := SnapshotTask{ID: t.ID, GroupFolder: t.GroupFolder, Prompt: t.Prompt, Script: t.Script,
			ScheduleType: t.ScheduleType, ScheduleValue: t.ScheduleValue, Status: t.Status}
		if t.NextRun != "" {
			next := t.NextRun
			s.NextRun = &next
		}
		list = append(list, s)
	}
	return writeSnapshot(ipcDir, folder, "current_tasks.json", list)
}

// groupsSnapshot is available_groups.json.
type groupsSnapshot struct {
	Groups   []store.AvailableGroup `json:"groups"`
	LastSync string                 `json:"lastSync"`
}

// WriteGroupsSnapshot writes data/ipc/<folder>/available_groups.json: the chats main may
// register; other groups get an empty list (only main registers groups).
func WriteGroupsSnapshot(ipcDir, folder string, isMain bool, groups []store.AvailableGroup, lastSync string) error {
	s := groupsSnapshot{Groups: []store.AvailableGroup{}, LastSync: lastSync}
	if isMain && groups != nil {
		s.Groups = groups
	}
	return writeSnapshot(ipcDir, folder, "available_groups.json", s)
}

func writeSnapshot(ipcDir, folder, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	dir := filepath.Join(ipcDir, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	return atomicfile.Write(filepath.Join(dir, name), b, 0o644)
}
