package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// importNanoClaw brings a TypeScript NanoClaw database found at store/messages.db into the
// host's store, once (store.ImportNanoClaw), keeping the file as it was. What it did is one
// log line; what it could not do, one line each with what to do instead. A file that
// cannot be read does not stop the host: it says so, and how to retry.
func importNanoClaw(ctx context.Context, st *store.Store, dir string, log hclog.Logger) {
	path := filepath.Join(dir, store.NanoClawDBName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return
	}
	rep, err := st.ImportNanoClaw(ctx, path)
	switch {
	case err != nil:
		log.Warn("NanoClaw's database was not imported; the host runs without it. Fix or replace the file and restart to try again",
			"file", path, "error", err)
		return
	case rep.AlreadyImported:
		log.Debug("NanoClaw's database was imported before", "file", path)
		return
	}
	log.Info("imported NanoClaw's database (the file is left as it was)", "file", path, "groups", rep.Groups, "chats", rep.Chats,
		"messages", rep.Messages, "tasks", rep.Tasks, "task_runs", rep.TaskRuns)
	if rep.Sessions > 0 {
		log.Info("NanoClaw's agent sessions cannot be resumed here: each group's next conversation starts afresh (its CLAUDE.md memory in groups/ is kept)",
			"sessions", rep.Sessions)
	}
	for _, s := range rep.Skipped {
		log.Warn("NanoClaw import: " + s)
	}
}
