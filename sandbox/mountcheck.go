package sandbox

// What is bound is what was approved. The mount plugin approves a resolved host path; the
// engine binds that path string later, when the container starts, following whatever the
// path names by then. Anyone who can write a directory along the path (an agent with a
// read-write mount of a parent, another local user, a sync client) can swap a component for
// a symlink in between and have, say, ~/.ssh bound instead. So:
//
//  1. At decision time BuildSpec pins each approved host path: it opens it without following
//     any symlink (openat2 RESOLVE_NO_SYMLINKS, O_PATH|O_DIRECTORY) and records its device and
//     inode in Mount.Verify. A path that has become a symlink is refused there. The open file
//     is kept (Spec.Pinned) until the run ends, so that inode cannot be freed and its number
//     reused by another directory meanwhile.
//  2. After the container has started, and before the host writes the run request to its
//     stdin, VerifyMounts looks at each such mount from inside the container's own mount
//     namespace (/proc/<pid>/root/<target>, again without following symlinks) and compares
//     device and inode with the pinned ones. The agent runner does nothing until it has
//     read its request, so nothing in the container has run yet; a mismatch, or anything
//     that prevents checking, kills the container and fails the run (Run).

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// FileID identifies a directory on the host by device and inode: what the host approved for
// a mount, compared with what the container actually got.
type FileID struct {
	Dev uint64
	Ino uint64
}

func (id FileID) String() string { return fmt.Sprintf("dev %d inode %d", id.Dev, id.Ino) }

// Pinned keeps the approved extra-mount directories open from the mount decision until the
// run ends: while open, the inode a Mount.Verify names cannot be freed and handed to another
// directory, so an identity match means the very directory approved. Run closes it; whoever
// builds a Spec and does not run it should Close it. The zero value and nil are empty.
type Pinned struct {
	mu    sync.Mutex
	files []*os.File
}

func (p *Pinned) add(f *os.File) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files = append(p.files, f)
}

// Len is how many directories are held open.
func (p *Pinned) Len() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.files)
}

// Close releases every held directory; closing twice is harmless.
func (p *Pinned) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, f := range p.files {
		errs = append(errs, f.Close())
	}
	p.files = nil
	return errors.Join(errs...)
}

// ErrMountVerify means an extra mount of a started container could not be shown to be the
// directory approved: the run is refused before the container receives any work.
var ErrMountVerify = errors.New("extra mount verification failed")

// MountMismatchError reports a container whose mount at Target is not the directory
// approved for Source: the path was swapped between the decision and the bind.
type MountMismatchError struct {
	Source, Target string
	Want, Got      FileID
}

func (e *MountMismatchError) Error() string {
	return fmt.Sprintf("%s in the container is not the directory approved for %s (approved %s, bound %s): "+
		"the host path changed between the mount decision and the bind", e.Target, e.Source, e.Want, e.Got)
}

// Unwrap makes a mismatch an ErrMountVerify.
func (e *MountMismatchError) Unwrap() error { return ErrMountVerify }

// VerifyMounts checks, for a started container whose first process is pid (as the host sees
// it), that every mount of spec carrying a Verify identity shows exactly that directory. A
// spec without such mounts needs nothing and passes whatever pid is; with them, an unknown
// pid (0, as fake runtimes report) fails closed. It must run before the container is given
// any work: afterwards the container could change what the check sees.
func VerifyMounts(pid int, spec Spec) error {
	var check []Mount
	for _, m := range spec.Mounts {
		if m.Verify != nil {
			check = append(check, m)
		}
	}
	if len(check) == 0 {
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("%w: the container runtime did not report the container's process, so %s cannot be checked",
			ErrMountVerify, check[0].Target)
	}
	return verifyInRoot(pid, check)
}
