package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pinDir opens an approved host directory without following any symlink on the way
// (RESOLVE_NO_SYMLINKS: a component swapped for a symlink fails with ELOOP) and returns the
// open file and its identity. The file is O_PATH: it grants no access to the contents.
func pinDir(path string) (*os.File, FileID, error) {
	fd, err := openNoSymlinks(unix.AT_FDCWD, path, unix.O_DIRECTORY)
	if err != nil {
		return nil, FileID{}, fmt.Errorf("open %s without following symlinks: %w", path, err)
	}
	id, err := fileID(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, FileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), id, nil
}

// openNoSymlinks is openat2 with O_PATH|O_CLOEXEC plus extra flags, refusing every symlink;
// under a directory fd it also refuses to leave that directory. EINTR and EAGAIN (a
// concurrent rename the kernel could not rule out) are retried a few times.
func openNoSymlinks(dirfd int, path string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(unix.O_PATH | unix.O_CLOEXEC | flags), Resolve: unix.RESOLVE_NO_SYMLINKS}
	if dirfd != unix.AT_FDCWD {
		how.Resolve |= unix.RESOLVE_BENEATH
	}
	var err error
	for range 8 {
		var fd int
		if fd, err = unix.Openat2(dirfd, path, &how); err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	if errors.Is(err, unix.ENOSYS) {
		err = fmt.Errorf("%w (openat2 needs Linux 5.6 or later)", err)
	}
	return -1, err
}

func fileID(fd int) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return FileID{}, err
	}
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// verifyInRoot opens the container's root through /proc/<pid>/root (the host must be allowed
// to: root, or the user the container's process runs as) and each target beneath it,
// following no symlink, and compares identities.
func verifyInRoot(pid int, check []Mount) error {
	proc := "/proc/" + strconv.Itoa(pid) + "/root"
	root, err := unix.Open(proc, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: open the container's root %s: %v", ErrMountVerify, proc, err)
	}
	defer unix.Close(root)
	for _, m := range check {
		fd, err := openNoSymlinks(root, strings.TrimPrefix(m.Target, "/"), 0)
		if err != nil {
			return fmt.Errorf("%w: %s (approved %s) in the container: %v", ErrMountVerify, m.Target, m.Source, err)
		}
		got, err := fileID(fd)
		_ = unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%w: stat %s in the container: %v", ErrMountVerify, m.Target, err)
		}
		if got != *m.Verify {
			return &MountMismatchError{Source: m.Source, Target: m.Target, Want: *m.Verify, Got: got}
		}
	}
	return nil
}
