// Package hostlock keeps one host per project: `nanoclaw run` takes an exclusive flock on a
// lock file before it touches anything (orphaned containers, the store, sockets), so a second
// host started by hand next to a running service refuses at once instead of removing the
// first host's live agent containers as orphans.
//
// The lock is the kernel's: it ends with the process that holds it, crash or kill -9
// included, so there is never a stale lock to clean up. The holder writes its pid into the
// file, which is only a hint for the refusal message; the flock is what decides.
package hostlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FileName is the lock file's name inside the host's private store directory (never mounted
// into a container, so no agent can hold or replace it).
const FileName = "host.lock"

// HeldError says another process holds the lock. PID is 0 when the holder has not written it
// yet (it takes the lock, then writes its pid).
type HeldError struct {
	Path string
	PID  int
}

func (e *HeldError) Error() string {
	who := "another nanoclaw host"
	if e.PID > 0 {
		who = fmt.Sprintf("another nanoclaw host (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is already running for this project (lock %s); stop it first, or talk to it with `nanoclaw status` and `nanoclaw chat`", who, e.Path)
}

// Lock is a held host lock; Release (or the process's end) gives it up.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path without waiting, creating the file (mode 0600) if needed,
// and records this process's pid in it. A lock another process holds is a *HeldError.
func Acquire(path string) (*Lock, error) {
	// O_NOFOLLOW: the store directory is the host's own, but a planted symlink must never
	// make the host truncate some other file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, PID: readPID(path)}
		}
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	if err := writePID(f, os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// flock takes an exclusive lock without blocking, retrying an interrupted call.
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func writePID(f *os.File, pid int) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// readPID is the pid the holder wrote, or 0 when there is none yet or it is unreadable.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 32 {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release gives the lock up. The file stays: removing it would let a host that opened the
// old file and one that creates a new one both "hold" a lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
