package plugin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// PathFacts answers the path capability: where a path really leads and what is there, never
// what a file contains.
type PathFacts interface {
	// Resolve expands a leading ~, makes p absolute and resolves every symlink.
	Resolve(p string) (string, error)
	// Stat describes p without following a final symlink.
	Stat(p string) (PathInfo, error)
}

// PathInfo is what the path capability reveals about a path.
type PathInfo struct {
	Exists, Dir, Regular, Symlink bool
	Perm                          fs.FileMode
}

// GroupDirectory answers the groups capability. The key is a chat JID, never a folder: an
// agent names chats by JID, and a lookup that also accepted folders would let a request
// naming "family" pass for family's chat. Implementations must not retain the key.
type GroupDirectory interface {
	LookupGroup(key []byte) (protocol.Group, bool)
}

// ConfigSource answers the config capability: the current version of a named document.
// Version changes whenever the content does, so guests can cache what they parsed.
type ConfigSource interface {
	ConfigDoc(name string) (doc []byte, version int64, ok bool)
}

// GroupTryer is implemented by a GroupDirectory that can answer without waiting when it
// can (a try-lock on its index): ready false means it would have to wait, and the host then
// asks LookupGroup on the instance's helper, bounded by the call's deadline (bounded.go).
// Without it every lookup takes that path, which costs a goroutine hand-off.
type GroupTryer interface {
	TryLookupGroup(key []byte) (g protocol.Group, found, ready bool)
}

// ConfigTryer is to ConfigSource what GroupTryer is to GroupDirectory.
type ConfigTryer interface {
	TryConfigDoc(name string) (doc []byte, version int64, found, ready bool)
}

// OSPaths is PathFacts over the real filesystem of the host.
type OSPaths struct {
	Home string // what ~ expands to; empty means os.UserHomeDir
}

// Resolve implements PathFacts.
func (o OSPaths) Resolve(p string) (string, error) {
	if p == "" {
		return "", fs.ErrNotExist
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := o.Home
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			home = h
		}
		p = filepath.Join(home, p[1:])
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// Stat implements PathFacts.
func (o OSPaths) Stat(p string) (PathInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return PathInfo{}, nil
		}
		return PathInfo{}, err
	}
	return PathInfo{
		Exists:  true,
		Dir:     fi.IsDir(),
		Regular: fi.Mode().IsRegular(),
		Symlink: fi.Mode()&fs.ModeSymlink != 0,
		Perm:    fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky),
	}, nil
}

func (pi PathInfo) encode() int64 {
	var r int64
	if pi.Exists {
		r |= abi.StatExists
	}
	if pi.Dir {
		r |= abi.StatDir
	}
	if pi.Regular {
		r |= abi.StatRegular
	}
	if pi.Symlink {
		r |= abi.StatSymlink
	}
	perm := int64(pi.Perm.Perm())
	if pi.Perm&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if pi.Perm&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if pi.Perm&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	return r | perm<<abi.StatModeShift
}

// StaticGroups is a GroupDirectory over a fixed list, for tests and the policy CLI.
type StaticGroups []protocol.Group

// LookupGroup implements GroupDirectory.
func (s StaticGroups) LookupGroup(key []byte) (protocol.Group, bool) {
	for _, g := range s {
		if g.JID == string(key) {
			return g, true
		}
	}
	return protocol.Group{}, false
}

// TryLookupGroup implements GroupTryer: a fixed list never waits.
func (s StaticGroups) TryLookupGroup(key []byte) (protocol.Group, bool, bool) {
	g, found := s.LookupGroup(key)
	return g, found, true
}

// GroupByFolder implements FolderDirectory.
func (s StaticGroups) GroupByFolder(folder string) (protocol.Group, bool) {
	for _, g := range s {
		if g.Folder == folder {
			return g, true
		}
	}
	return protocol.Group{}, false
}

// StaticConfig is a ConfigSource over fixed documents whose content can be replaced.
type StaticConfig struct {
	mu   sync.RWMutex
	docs map[string][]byte
	ver  atomic.Int64
}

// Set replaces (or, with nil, removes) a document and bumps the version.
func (s *StaticConfig) Set(name string, doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs == nil {
		s.docs = map[string][]byte{}
	}
	if doc == nil {
		delete(s.docs, name)
	} else {
		s.docs[name] = doc
	}
	s.ver.Add(1)
}

// TryConfigDoc implements ConfigTryer.
func (s *StaticConfig) TryConfigDoc(name string) ([]byte, int64, bool, bool) {
	if !s.mu.TryRLock() {
		return nil, 0, false, false
	}
	defer s.mu.RUnlock()
	d, ok := s.docs[name]
	return d, s.ver.Load(), ok, true
}

// ConfigDoc implements ConfigSource.
func (s *StaticConfig) ConfigDoc(name string) ([]byte, int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.docs[name]
	return d, s.ver.Load(), ok
}

// kvStore is the per-plugin key-value state: in memory, bounded, shared by the plugin's
// instances and kept across hot reloads of the same plugin.
type kvStore struct {
	mu    sync.Mutex
	data  map[string][]byte
	bytes int
}

// KV limits: a plugin's state is for small facts (counters, last-seen times), not storage.
const (
	MaxKVKeyBytes   = 256
	MaxKVValueBytes = 16 << 10
	MaxKVTotalBytes = 1 << 20
)

// tryGet is get when the store is not locked by another instance; ready false otherwise.
func (s *kvStore) tryGet(key []byte) (val []byte, found, ready bool) {
	if !s.mu.TryLock() {
		return nil, false, false
	}
	defer s.mu.Unlock()
	val, found = s.data[string(key)]
	return val, found, true
}

// trySet is set when the store is not locked by another instance; ready false otherwise.
func (s *kvStore) trySet(key, val []byte) (int32, bool) {
	if !s.mu.TryLock() {
		return 0, false
	}
	defer s.mu.Unlock()
	return s.setLocked(key, val), true
}

func (s *kvStore) get(key []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[string(key)]
	return v, ok
}

func (s *kvStore) set(key, val []byte) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(key, val)
}

// setLocked sets or (empty val) deletes a key; s.mu is held.
func (s *kvStore) setLocked(key, val []byte) int32 {
	if len(key) == 0 || len(key) > MaxKVKeyBytes || len(val) > MaxKVValueBytes {
		return abi.ErrTooLarge
	}
	old, had := s.data[string(key)]
	if len(val) == 0 {
		if had {
			s.bytes -= len(key) + len(old)
			delete(s.data, string(key))
		}
		return 0
	}
	grow := len(val) - len(old)
	if !had {
		grow += len(key)
	}
	if s.bytes+grow > MaxKVTotalBytes {
		return abi.ErrQuota
	}
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	s.data[string(key)] = append([]byte(nil), val...)
	s.bytes += grow
	return 0
}
