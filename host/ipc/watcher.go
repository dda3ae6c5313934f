package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/plugin"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// The request directories inside each group's IPC directory, and the quarantine.
const (
	DirMessages = "messages"
	DirTasks    = "tasks"
	DirErrors   = "errors"
)

// Authorizer decides requests: the plugin registry's ipc chain.
type Authorizer interface {
	DecideIPC(ctx context.Context, req *protocol.IPCRequest) plugin.IPCDecision
}

// Facts is what the watcher asks the host about identities.
type Facts interface {
	// Group reports whether folder belongs to a registered group, and whether that group
	// is the main one. Identity is the directory a request arrived in, never its content.
	Group(ctx context.Context, folder string) (registered, isMain bool)
	// TaskGroup returns the folder of the group owning a task, "" when there is none.
	TaskGroup(ctx context.Context, taskID string) string
}

// Performer carries out an allowed request.
type Performer interface {
	Perform(ctx context.Context, req Request) error
}

// Request is an allowed request, ready to perform.
type Request struct {
	Group  string // the folder it arrived from
	IsMain bool
	Dir    string // DirMessages or DirTasks
	File   string // its file name, for logs
	Op     Op
}

// Outcome is what became of one request file.
type Outcome struct {
	Group, Dir, File string
	Performed        bool
	Reason           string // why it was refused or failed; "" when performed
	Quarantine       string // where the file went, "" when performed
	Elapsed          time.Duration
}

// Config is a Watcher's dependencies.
type Config struct {
	Dir        string // data/ipc
	Authorizer Authorizer
	Facts      Facts
	Performer  Performer
	Log        hclog.Logger
	// OnOutcome, when set, hears every request's fate (status, tests, benchmarks).
	OnOutcome func(Outcome)
}

// Watcher processes IPC requests as they appear.
type Watcher struct {
	cfg Config
	log hclog.Logger

	mu     sync.Mutex
	recent []Outcome // the last refused or failed requests, newest last
}

// recentErrors is how many refused requests Recent remembers.
const recentErrors = 20

// New makes a Watcher.
func New(cfg Config) *Watcher {
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Watcher{cfg: cfg, log: log}
}

// Recent returns the latest refused or failed requests, oldest first.
func (w *Watcher) Recent() []Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.recent)
}

// Run watches until ctx ends. Requests already waiting (written while the host was down)
// are processed first, in name order, which is creation order.
func (w *Watcher) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(w.cfg.Dir, DirErrors), 0o755); err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("ipc: watcher: %w", err)
	}
	defer fw.Close()
	if err := fw.Add(w.cfg.Dir); err != nil {
		return fmt.Errorf("ipc: watch %s: %w", w.cfg.Dir, err)
	}
	w.rescan(ctx, fw)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op&(fsnotify.Create|fsnotify.Write) != 0 {
				w.event(ctx, fw, ev.Name)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflow means events were lost: look at everything again.
			w.log.Warn("ipc watcher error; rescanning", "error", err)
			w.rescan(ctx, fw)
		}
	}
}

// rescan adds watches for every group directory and processes every waiting request.
func (w *Watcher) rescan(ctx context.Context, fw *fsnotify.Watcher) {
	groups, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		w.log.Error("ipc: read directory", "error", err)
		return
	}
	for _, g := range groups {
		if g.IsDir() && g.Name() != DirErrors {
			w.addGroup(ctx, fw, g.Name())
		}
	}
}

// addGroup watches one group's directory and its request directories, then drains them.
// Watching comes before reading so that no file can slip between the two.
func (w *Watcher) addGroup(ctx context.Context, fw *fsnotify.Watcher, folder string) {
	gdir := filepath.Join(w.cfg.Dir, folder)
	if err := fw.Add(gdir); err != nil {
		w.log.Warn("ipc: watch group directory", "folder", folder, "error", err)
	}
	for _, d := range []string{DirMessages, DirTasks} {
		w.addRequestDir(ctx, fw, folder, d)
	}
}

func (w *Watcher) addRequestDir(ctx context.Context, fw *fsnotify.Watcher, folder, dir string) {
	p := filepath.Join(w.cfg.Dir, folder, dir)
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
		return // not there yet (a create event brings it), or a symlink: never followed
	}
	if err := fw.Add(p); err != nil {
		w.log.Warn("ipc: watch request directory", "dir", p, "error", err)
		return
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		w.log.Warn("ipc: read request directory", "dir", p, "error", err)
		return
	}
	for _, e := range entries { // ReadDir sorts by name: <unix-ms>-<random>.json
		if strings.HasSuffix(e.Name(), ".json") {
			w.process(ctx, folder, dir, e.Name())
		}
	}
}

// event dispatches one create or write event by where it happened.
func (w *Watcher) event(ctx context.Context, fw *fsnotify.Watcher, path string) {
	rel, err := filepath.Rel(w.cfg.Dir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	parts := strings.Split(rel, string(filepath.Separator))
	switch {
	case len(parts) == 1 && parts[0] != DirErrors:
		if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
			w.addGroup(ctx, fw, parts[0])
		}
	case len(parts) == 2 && (parts[1] == DirMessages || parts[1] == DirTasks):
		w.addRequestDir(ctx, fw, parts[0], parts[1])
	case len(parts) == 3 && (parts[1] == DirMessages || parts[1] == DirTasks) && strings.HasSuffix(parts[2], ".json"):
		w.process(ctx, parts[0], parts[1], parts[2])
	}
}

// process takes one request file from arrival to its end: performed and removed, or
// quarantined with a reason.
func (w *Watcher) process(ctx context.Context, folder, dir, name string) {
	start := time.Now()
	path := filepath.Join(w.cfg.Dir, folder, dir, name)
	out := Outcome{Group: folder, Dir: dir, File: name}
	refuse := func(reason string) {
		out.Reason = reason
		out.Quarantine = w.quarantine(path, folder, dir, name, reason)
		out.Elapsed = time.Since(start)
		w.log.Warn("ipc request refused", "group", folder, "dir", dir, "file", name, "reason", reason, "kept", out.Quarantine)
		w.mu.Lock()
		w.recent = append(w.recent, out)
		if len(w.recent) > recentErrors {
			w.recent = w.recent[len(w.recent)-recentErrors:]
		}
		w.mu.Unlock()
		w.report(out)
	}
	body, err := readRequest(path)
	if errors.Is(err, fs.ErrNotExist) {
		return // already handled: a create and a write event for the same file
	}
	if err != nil {
		refuse(err.Error())
		return
	}
	registered, isMain := w.cfg.Facts.Group(ctx, folder)
	if !registered {
		refuse("the IPC directory " + folder + " belongs to no registered group")
		return
	}
	op, err := Decode(body)
	if err != nil {
		refuse(err.Error())
		return
	}
	req := protocol.IPCRequest{Group: folder, IsMain: isMain, Dir: dir, Request: body}
	if dir == DirTasks && op.TaskID != "" && op.Type != "schedule_task" {
		req.TaskGroup = w.cfg.Facts.TaskGroup(ctx, op.TaskID)
	}
	d := w.cfg.Authorizer.DecideIPC(ctx, &req)
	if !d.Allow {
		by := d.DecidedBy
		if by == "" {
			by = "host"
		}
		refuse("denied by " + by + ": " + d.Reason)
		return
	}
	if err := w.cfg.Performer.Perform(ctx, Request{Group: folder, IsMain: isMain, Dir: dir, File: name, Op: op}); err != nil {
		refuse("allowed, but performing it failed: " + err.Error())
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.log.Error("ipc: remove performed request", "file", path, "error", err)
	}
	out.Performed = true
	out.Elapsed = time.Since(start)
	w.log.Debug("ipc request performed", "group", folder, "type", op.Type, "elapsed", out.Elapsed)
	w.report(out)
}

func (w *Watcher) report(o Outcome) {
	if w.cfg.OnOutcome != nil {
		w.cfg.OnOutcome(o)
	}
}

// quarantine moves a refused request to data/ipc/errors/<folder>-<dir>-<name> and writes
// the reason beside it as <that name>.reason, so nothing is lost and an operator can see
// why. It returns the new path, or "" when even that failed (the file is then removed so
// that it cannot be retried forever; the log keeps the reason).
func (w *Watcher) quarantine(path, folder, dir, name, reason string) string {
	base := filepath.Join(w.cfg.Dir, DirErrors, folder+"-"+dir+"-"+name)
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil { // renames a symlink itself, never its target
		w.log.Error("ipc: could not quarantine a refused request", "file", path, "reason", reason, "error", err)
		_ = os.Remove(path)
		return ""
	}
	note := fmt.Sprintf("%s\n%s\n", time.Now().UTC().Format(time.RFC3339), reason)
	if err := os.WriteFile(dst+".reason", []byte(note), 0o644); err != nil {
		w.log.Error("ipc: write quarantine reason", "file", dst, "error", err)
	}
	return dst
}
