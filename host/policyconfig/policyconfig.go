// Package policyconfig serves the configuration documents policy plugins read through the
// config capability: the operator's files (mount allowlist, sender allowlist, a custom
// plugin's settings), read from outside the project and re-read when they change. The host
// passes a file through untouched; the plugin decides what a malformed file means.
package policyconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// MaxFileBytes bounds a configuration file; a larger one is reported as an error.
const MaxFileBytes = 1 << 20

// Docs implements the host side of the config capability (plugin.ConfigSource).
type Docs struct {
	configDir string
	protected []string
	overrides map[string]string // name → path from the environment
	log       hclog.Logger

	mu      sync.RWMutex
	encoded map[string][]byte // name → protocol.ConfigDoc JSON
	paths   map[string]string // name → file
	version atomic.Int64
	ready   chan struct{} // closed once Watch has registered its watches
}

// Options configure Docs.
type Options struct {
	ConfigDir string // ~/.config/nanoclaw
	// Protected are paths no mount may be, lie inside or contain: the host's own state
	// (config.Paths.Protected). They are passed to plugins in every document.
	Protected []string
	// Files overrides where a document is read from, by name (NANOCLAW_MOUNT_ALLOWLIST,
	// NANOCLAW_SENDER_ALLOWLIST).
	Files  map[string]string
	Logger hclog.Logger
}

// New prepares Docs; documents are read on first use and re-read by Watch.
func New(o Options) *Docs {
	d := &Docs{configDir: o.ConfigDir, protected: o.Protected, overrides: o.Files, log: o.Logger,
		encoded: map[string][]byte{}, paths: map[string]string{}, ready: make(chan struct{})}
	if d.log == nil {
		d.log = hclog.NewNullLogger()
	}
	d.version.Store(1)
	return d
}

// Path is the file a document name is read from: an override, NanoClaw's own file names for
// the two allowlists, or plugins/<name>.json in the config directory.
func (d *Docs) Path(name string) string {
	if p := d.overrides[name]; p != "" {
		return p
	}
	switch name {
	case "mount-allowlist", "sender-allowlist":
		return filepath.Join(d.configDir, name+".json")
	}
	return filepath.Join(d.configDir, "plugins", name+".json")
}

// ConfigDoc implements plugin.ConfigSource. It is on the decision path (plugins ask for the
// version on every call), so after the first read it is a map lookup under a read lock.
func (d *Docs) ConfigDoc(name string) ([]byte, int64, bool) {
	d.mu.RLock()
	doc, ok := d.encoded[name]
	d.mu.RUnlock()
	if ok {
		return doc, d.version.Load(), true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if doc, ok := d.encoded[name]; ok {
		return doc, d.version.Load(), true
	}
	d.paths[name] = d.Path(name)
	d.encoded[name] = d.read(name, d.paths[name])
	return d.encoded[name], d.version.Load(), true
}

// TryConfigDoc answers without waiting when the document has been read and no reload holds
// the lock (plugin.ConfigTryer); otherwise the plugin host asks ConfigDoc with its call's
// deadline as the bound.
func (d *Docs) TryConfigDoc(name string) ([]byte, int64, bool, bool) {
	if !d.mu.TryRLock() {
		return nil, 0, false, false
	}
	doc, ok := d.encoded[name]
	d.mu.RUnlock()
	if !ok {
		return nil, 0, false, false // not read yet: ConfigDoc reads it
	}
	return doc, d.version.Load(), true, true
}

func (d *Docs) read(name, path string) []byte {
	doc := protocol.ConfigDoc{Name: name, Path: path, ProtectedPaths: d.protected}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		doc.Error = err.Error()
	default:
		defer f.Close()
		b := make([]byte, MaxFileBytes+1)
		n, rerr := readFull(f, b)
		switch {
		case rerr != nil:
			doc.Error = rerr.Error()
		case n > MaxFileBytes:
			doc.Error = fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)
		default:
			doc.Exists, doc.Content = true, b[:n]
		}
	}
	return doc.AppendJSON(nil)
}

func readFull(f *os.File, b []byte) (int, error) {
	n, err := io.ReadFull(f, b)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return n, nil
	}
	return n, err
}

// Reload re-reads every document in use and bumps the version when any changed.
func (d *Docs) Reload() {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for name, path := range d.paths {
		doc := d.read(name, path)
		if string(doc) != string(d.encoded[name]) {
			d.encoded[name] = doc
			changed = true
			d.log.Info("policy configuration changed", "document", name, "path", path)
		}
	}
	if changed {
		d.version.Add(1)
	}
}

// Watching is closed once Watch sees changes, so callers (and tests) can wait for it.
func (d *Docs) Watching() <-chan struct{} { return d.ready }

// Watch re-reads documents when their files change, until ctx is done. It watches the
// directories (editors and atomic writers replace files, which a file watch would miss).
func (d *Docs) Watch(ctx context.Context, onReload func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy config watcher: %w", err)
	}
	defer w.Close()
	dirs := map[string]bool{d.configDir: true, filepath.Join(d.configDir, "plugins"): true}
	for _, p := range d.overrides {
		dirs[filepath.Dir(p)] = true
	}
	for dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			d.log.Warn("cannot create policy config directory; changes there will not be seen", "dir", dir, "error", err)
			continue
		}
		if err := w.Add(dir); err != nil {
			d.log.Warn("cannot watch policy config directory", "dir", dir, "error", err)
		}
	}
	d.Reload() // anything that changed before the watch started
	close(d.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Error("policy config watcher error", "error", err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Ext(ev.Name) != ".json" {
				continue
			}
			d.Reload()
			if onReload != nil {
				onReload()
			}
		}
	}
}
