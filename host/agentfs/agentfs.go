// Package agentfs is the directories agents can write; the host touches them only through
// os.Root, never following a link the agent made.
//
// Three kinds of directory are the agents': groups/<folder>/ (mounted read-write at
// /workspace/group), groups/global/ (read-write for the main group) and
// data/sessions/<folder>/ (the runner's home, /home/node). Anything inside them may be a
// symlink, a FIFO or a file swapped between two host calls, so no other host code joins a
// path into them. Here every operation opens an os.Root on a parent the agent cannot write
// (groups/, data/sessions/), creates with O_CREATE|O_EXCL, reads with O_NOFOLLOW on the last
// component, and changes owners without following a link. Whatever is not what the host
// expected is left alone and reported.
//
// The memory templates (templates/<name>.md) are read here too, though they are not the
// agents': see ReadTemplate.
package agentfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
)

// ErrRefused marks something in an agent's directory the host will not touch: a symlink, a
// FIFO or device, or a file too large to be a template.
var ErrRefused = errors.New("refused")

// ErrInvalidFolder is returned for a group folder that breaks the folder rule: such a name
// could reach outside groups/ or name the global folder.
var ErrInvalidFolder = errors.New(`agentfs: invalid group folder: want ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$, and "global" is reserved`)

// MaxTemplateSize caps a memory template read by the host: memory is a few kilobytes, and a
// template bloated by mistake must not make the host read without bound.
const MaxTemplateSize = 256 << 10

// memoryFile is a group's memory (and, in groups/global, the global memory), read by the
// runner into its system prompt.
const memoryFile = "CLAUDE.md"

// templatesDir holds the memory templates, in the project root: tracked, the host's alone.
const templatesDir = "templates"

// Global is the folder every group sees at /workspace/global (read-write for main only).
const Global = "global"

// FS is the agent-writable directories of one project and the owner agents run as.
type FS struct {
	root     string // the project root: host-owned, holds templates/
	groups   string // <root>/groups: host-owned, holds <folder>/ and global/
	sessions string // <root>/data/sessions: host-owned, holds <folder>/
	owner    Owner
	log      hclog.Logger
}

// New is the agent-writable directories of the project at root (root/groups and
// root/data/sessions), prepared for agents running as owner. log hears what was refused;
// nil discards it.
func New(root string, owner Owner, log hclog.Logger) (*FS, error) {
	if err := owner.validate(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("agentfs: project root %q is not absolute", root)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &FS{root: root, groups: filepath.Join(root, "groups"), sessions: filepath.Join(root, "data", "sessions"), owner: owner, log: log}, nil
}

// Owner is the user agent containers run as.
func (f *FS) Owner() Owner { return f.owner }

// GroupDir is the host path of a group's folder, for its bind mount at /workspace/group. It
// is never a path to open files under: that is what this package's methods are for. An
// invalid folder gives "", which no mount accepts.
func (f *FS) GroupDir(folder string) string {
	if !ipcpolicy.ValidFolder(folder) {
		return ""
	}
	return filepath.Join(f.groups, folder)
}

// SessionDir is the host path of a group's session store, for its bind mount at /home/node;
// "" for an invalid folder.
func (f *FS) SessionDir(folder string) string {
	if !ipcpolicy.ValidFolder(folder) {
		return ""
	}
	return filepath.Join(f.sessions, folder)
}

// GlobalDir is the host path of groups/global, for its bind mount, and whether it exists as
// a directory (a project without one mounts none).
func (f *FS) GlobalDir() (string, bool) {
	fi, err := os.Lstat(filepath.Join(f.groups, Global))
	return filepath.Join(f.groups, Global), err == nil && fi.IsDir()
}

// PrepareGroup makes what a group's run needs: groups/<folder>/ and data/sessions/<folder>/,
// created if missing and owned by the agent, the folder's existing CLAUDE.md handed to the
// agent too (so its memory appends work), and for main groups/global/ (created if missing)
// and its CLAUDE.md. It runs before every container and at registration; nothing an agent
// left there is followed.
func (f *FS) PrepareGroup(folder string, isMain bool) error {
	if !ipcpolicy.ValidFolder(folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	if err := f.prepareDir(f.groups, folder, true); err != nil {
		return err
	}
	if err := f.chownMemory(folder); err != nil {
		return err
	}
	if err := f.prepareDir(f.sessions, folder, true); err != nil {
		return err
	}
	if isMain {
		if err := f.prepareDir(f.groups, Global, true); err != nil {
			return err
		}
		if err := f.chownMemory(Global); err != nil {
			return err
		}
	}
	return nil
}

// PrepareGlobal makes groups/global/ if it is missing, so the global memory can be created
// in it, and refuses it if it is anything but a directory. Unlike PrepareGroup for main, it
// hands nothing to the agent: only main may write there, and main's preparation does that.
func (f *FS) PrepareGlobal() error {
	if err := os.MkdirAll(f.groups, 0o755); err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	r, err := os.OpenRoot(f.groups)
	if err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	defer r.Close()
	if err := r.Mkdir(Global, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("agentfs: %s: %w", filepath.Join(f.groups, Global), err)
	}
	fi, err := r.Lstat(Global)
	if err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("agentfs: %s is a %s, not a directory: %w", filepath.Join(f.groups, Global), kind(fi.Mode()), ErrRefused)
	}
	return nil
}

// prepareDir makes base/name (base is the host's, so plain calls may create it) and hands it
// to the agent. A name that exists as anything but a directory is refused.
func (f *FS) prepareDir(base, name string, create bool) error {
	if create {
		if err := os.MkdirAll(base, 0o755); err != nil {
			return fmt.Errorf("agentfs: %w", err)
		}
	}
	r, err := os.OpenRoot(base)
	if err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	defer r.Close()
	if create {
		if err := r.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("agentfs: %s: %w", filepath.Join(base, name), err)
		}
	}
	fi, err := r.Lstat(name)
	if err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("agentfs: %s is a %s, not a directory: %w", filepath.Join(base, name), kind(fi.Mode()), ErrRefused)
	}
	if f.owner.Chown {
		if err := r.Lchown(name, f.owner.UID, f.owner.GID); err != nil {
			return fmt.Errorf("agentfs: hand %s to the agent: %w", filepath.Join(base, name), err)
		}
	} else if uid, ok := fileUID(fi); ok && uid != f.owner.UID {
		f.log.Warn("an agent directory belongs to another user; the agent may not be able to write it",
			"dir", filepath.Join(base, name), "owner_uid", uid, "agent_uid", f.owner.UID)
	}
	return nil
}

// chownMemory hands groups/<folder>/CLAUDE.md to the agent when it is a regular file. The
// chown goes through a descriptor opened with O_NOFOLLOW, so a link put there is never
// followed; one is reported and left alone.
func (f *FS) chownMemory(folder string) error {
	if !f.owner.Chown {
		return nil
	}
	r, err := f.openGroup(folder)
	if err != nil {
		return err
	}
	defer r.Close()
	file, err := openNoFollow(r, memoryFile, os.O_RDONLY)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, ErrRefused):
		f.log.Warn("CLAUDE.md in the group folder is a symbolic link (an agent's?); left alone, not handed over", "group", folder)
		return nil
	case err != nil:
		return fmt.Errorf("agentfs: %s/%s: %w", folder, memoryFile, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fmt.Errorf("agentfs: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.log.Warn("CLAUDE.md in the group folder is not a regular file; left alone, not handed over", "group", folder, "type", kind(fi.Mode()))
		return nil
	}
	if err := file.Chown(f.owner.UID, f.owner.GID); err != nil {
		return fmt.Errorf("agentfs: hand %s/%s to the agent: %w", folder, memoryFile, err)
	}
	return nil
}

// ReadTemplate reads templates/<name>.md, the template a memory file is made from (name is
// a plain word such as "main", "group" or "global"). The templates are the host's: tracked
// in the project, in no directory an agent can write (main sees the project read-only, and
// the mount guard refuses it as an extra mount), and never in the folders memory files live
// in, so no agent's edit can reach a new group's memory. They are still read with the
// discipline used for the agents' files: templates/ and the file are opened with O_NOFOLLOW
// and O_NONBLOCK, the file must be regular and at most MaxTemplateSize bytes, so a link or
// FIFO put there by mistake cannot make the host copy another file into memory or hang. A
// missing template is fs.ErrNotExist.
func (f *FS) ReadTemplate(name string) ([]byte, error) {
	if !validTemplateName(name) {
		return nil, fmt.Errorf("agentfs: template name %q: want a plain lowercase word", name)
	}
	what := templatesDir + "/" + name + ".md"
	root, err := os.Open(f.root)
	if err != nil {
		return nil, fmt.Errorf("agentfs: template %s: %w", what, err)
	}
	defer root.Close()
	// Without O_DIRECTORY, which would turn a link's ELOOP into ENOTDIR: the type is
	// checked on the descriptor instead.
	dir, err := openNoFollowAt(root, templatesDir, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("agentfs: template directory %s/: %w", templatesDir, err)
	}
	defer dir.Close()
	di, err := dir.Stat()
	if err != nil {
		return nil, fmt.Errorf("agentfs: template directory %s/: %w", templatesDir, err)
	}
	if !di.IsDir() {
		return nil, fmt.Errorf("agentfs: template directory %s/ is a %s: %w", templatesDir, kind(di.Mode()), ErrRefused)
	}
	file, err := openNoFollowAt(dir, name+".md", os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("agentfs: template %s: %w", what, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("agentfs: template %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("agentfs: template %s is a %s, not a regular file: %w", what, kind(fi.Mode()), ErrRefused)
	}
	b, err := io.ReadAll(io.LimitReader(file, MaxTemplateSize+1))
	if err != nil {
		return nil, fmt.Errorf("agentfs: template %s: %w", what, err)
	}
	if len(b) > MaxTemplateSize {
		return nil, fmt.Errorf("agentfs: template %s is larger than %d bytes: %w", what, MaxTemplateSize, ErrRefused)
	}
	return b, nil
}

// validTemplateName accepts a short lowercase word: a template name is never a path.
func validTemplateName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// MemoryResult says what CreateMemory did.
type MemoryResult int

const (
	// MemoryCreated: CLAUDE.md did not exist and now holds the content, owned by the agent.
	MemoryCreated MemoryResult = iota
	// MemoryExists: a regular CLAUDE.md was there and is kept as it is.
	MemoryExists
	// MemoryRefused: something else was there (a symlink, dangling or not, a directory, a
	// FIFO); it is left alone, nothing is created, and the log says so.
	MemoryRefused
)

func (m MemoryResult) String() string {
	return [...]string{"created", "exists", "refused"}[m]
}

// HasMemory says whether groups/<folder>/CLAUDE.md (folder may be Global) is a regular file,
// so a caller can skip reading a template it would not use. Anything else there (a link) is
// not memory: creating it is then refused and reported by CreateMemory.
func (f *FS) HasMemory(folder string) bool {
	if !memoryFolder(folder) {
		return false
	}
	r, err := f.openGroup(folder)
	if err != nil {
		return false
	}
	defer r.Close()
	fi, err := r.Lstat(memoryFile)
	return err == nil && fi.Mode().IsRegular()
}

// CreateMemory creates groups/<folder>/CLAUDE.md (folder may be Global, for the global
// memory) with content if no such name exists: an existing memory file is never written. The
// create is O_CREATE|O_EXCL inside an os.Root, so a link at the name is never followed: a
// dangling one cannot make the host create its target. The folder must exist (PrepareGroup,
// PrepareGlobal).
func (f *FS) CreateMemory(folder string, content []byte) (MemoryResult, error) {
	if !memoryFolder(folder) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	r, err := f.openGroup(folder)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	file, err := r.OpenFile(memoryFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := r.Lstat(memoryFile)
		if lerr == nil && fi.Mode().IsRegular() {
			return MemoryExists, nil
		}
		what := "unknown"
		if lerr == nil {
			what = kind(fi.Mode())
		}
		f.log.Warn("CLAUDE.md in the group folder is not a regular file (an agent's link?); left alone, no memory created from the template",
			"group", folder, "type", what)
		return MemoryRefused, nil
	}
	if err != nil {
		return 0, fmt.Errorf("agentfs: create %s/%s: %w", folder, memoryFile, err)
	}
	if err := f.fill(file, content); err != nil {
		_ = r.Remove(memoryFile)
		return 0, fmt.Errorf("agentfs: write %s/%s: %w", folder, memoryFile, err)
	}
	return MemoryCreated, nil
}

// WriteFile creates groups/<folder>/<rel> holding data, for the agent (a received photo, a
// document): parent directories are made as needed and, like the file, handed to the agent.
// The file is created with O_CREATE|O_EXCL, so an existing name (a link included) is never
// written through: it is fs.ErrExist. rel must be local (no "..", not absolute).
func (f *FS) WriteFile(folder, rel string, data []byte) error {
	if !ipcpolicy.ValidFolder(folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	if !filepath.IsLocal(rel) || rel == "." {
		return fmt.Errorf("agentfs: %q is not a path inside the group folder", rel)
	}
	r, err := f.openGroup(folder)
	if err != nil {
		return err
	}
	defer r.Close()
	if dir := filepath.Dir(rel); dir != "." {
		if err := f.mkdirs(r, dir); err != nil {
			return fmt.Errorf("agentfs: %s/%s: %w", folder, dir, err)
		}
	}
	file, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("agentfs: create %s/%s: %w", folder, rel, err)
	}
	if err := f.fill(file, data); err != nil {
		_ = r.Remove(rel)
		return fmt.Errorf("agentfs: write %s/%s: %w", folder, rel, err)
	}
	return nil
}

// RemoveFile removes groups/<folder>/<rel>, a file the host put there (a photo whose
// message was deleted for everyone). A link at rel is removed itself, never what it points
// to, and a link on the way cannot lead out of the group's folder (os.Root). A missing file
// is no error. rel must be local (no "..", not absolute).
func (f *FS) RemoveFile(folder, rel string) error {
	if !ipcpolicy.ValidFolder(folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	if !filepath.IsLocal(rel) || rel == "." {
		return fmt.Errorf("agentfs: %q is not a path inside the group folder", rel)
	}
	r, err := f.openGroup(folder)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("agentfs: remove %s/%s: %w", folder, rel, err)
	}
	return nil
}

// Usage is how many bytes the regular files under groups/<folder>/<rel> hold (a media
// folder's share of a cap). Links are not followed, and the walk stays inside the group's
// folder; a missing directory holds nothing.
func (f *FS) Usage(folder, rel string) (int64, error) {
	if !ipcpolicy.ValidFolder(folder) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	if !filepath.IsLocal(rel) {
		return 0, fmt.Errorf("agentfs: %q is not a path inside the group folder", rel)
	}
	r, err := f.openGroup(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("agentfs: usage of %s: %w", folder, err)
	}
	defer r.Close()
	var total int64
	err = fs.WalkDir(r.FS(), filepath.ToSlash(rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == filepath.ToSlash(rel) && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return nil // an entry that vanished or cannot be read counts for nothing
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("agentfs: usage of %s/%s: %w", folder, rel, err)
	}
	return total, nil
}

// mkdirs makes each component of dir inside r, handing the ones it creates to the agent.
// Existing components are used as they are; os.Root keeps any link among them inside r.
func (f *FS) mkdirs(r *os.Root, dir string) error {
	parts := strings.Split(filepath.ToSlash(dir), "/")
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		err := r.Mkdir(p, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if f.owner.Chown {
			if err := r.Lchown(p, f.owner.UID, f.owner.GID); err != nil {
				return err
			}
		}
	}
	return nil
}

// fill writes data to a file the host just created (O_EXCL), fixes its mode against the
// umask and hands it to the agent through the descriptor, then closes it.
func (f *FS) fill(file *os.File, data []byte) error {
	_, err := file.Write(data)
	if err == nil {
		err = file.Chmod(0o644)
	}
	if err == nil && f.owner.Chown {
		err = file.Chown(f.owner.UID, f.owner.GID)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// ResetSession empties data/sessions/<folder>/ (the agent's home: its sessions and whatever
// else it kept there) and keeps the directory and its owner. Entries are removed inside an
// os.Root, so a link among them is removed, never followed. A missing store is already empty.
func (f *FS) ResetSession(folder string) error {
	if !ipcpolicy.ValidFolder(folder) {
		return fmt.Errorf("%w: %q", ErrInvalidFolder, folder)
	}
	r, err := openIn(f.sessions, folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agentfs: session of %s: %w", folder, err)
	}
	defer r.Close()
	d, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("agentfs: session of %s: %w", folder, err)
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return fmt.Errorf("agentfs: session of %s: %w", folder, err)
	}
	var errs []error
	for _, n := range names {
		if err := r.RemoveAll(n); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agentfs: reset session of %s: %w", folder, err)
	}
	return nil
}

// memoryFolder accepts the folders memory files live in: a group's, or the global one.
func memoryFolder(name string) bool { return name == Global || ipcpolicy.ValidFolder(name) }

// openGroup opens groups/<name> as a root; groups/ is the host's, so the name itself is not
// the agent's to replace.
func (f *FS) openGroup(name string) (*os.Root, error) {
	return openIn(f.groups, name)
}

// openIn opens base/name as a root, resolving name inside base only.
func openIn(base, name string) (*os.Root, error) {
	parent, err := os.OpenRoot(base)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	return parent.OpenRoot(name)
}

// openNoFollow opens name, a single component, in r's directory with O_NOFOLLOW and
// O_NONBLOCK: a link at the name is ErrRefused rather than followed (os.Root would follow
// one that stays inside the root), and a FIFO cannot block the host.
func openNoFollow(r *os.Root, name string, flag int) (*os.File, error) {
	dir, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return openNoFollowAt(dir, name, flag)
}

// openNoFollowAt is openNoFollow relative to an open directory.
func openNoFollowAt(dir *os.File, name string, flag int) (*os.File, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return nil, fmt.Errorf("agentfs: %q is not a single name", name)
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, oerr := -1, error(nil)
	if err := rc.Control(func(dfd uintptr) {
		for {
			fd, oerr = unix.Openat(int(dfd), name, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if oerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if errors.Is(oerr, syscall.ELOOP) || errors.Is(oerr, syscall.EMLINK) {
		return nil, fmt.Errorf("is a symbolic link: %w", ErrRefused)
	}
	if oerr != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: oerr}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
}

// kind names what a file is, for messages.
func kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "regular file"
	case t&fs.ModeSymlink != 0:
		return "symbolic link"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// fileUID is the owner of fi, where the platform says.
func fileUID(fi fs.FileInfo) (int, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}
