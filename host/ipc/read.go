package ipc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Reasons a file cannot be read as a request; each is reported beside the quarantined file.
var (
	ErrSymlink  = errors.New("request file is a symbolic link (never followed)")
	ErrNotFile  = errors.New("request is not a regular file")
	ErrOversize = fmt.Errorf("request file is larger than %d bytes", MaxRequestBytes)
)

// readRequest reads one request file without following a symlink (O_NOFOLLOW: an agent
// could otherwise point a request at any file the host can read) and without blocking on a
// FIFO (O_NONBLOCK), refusing anything but a regular file of at most MaxRequestBytes.
func readRequest(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
			return nil, ErrSymlink
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotFile
	}
	if fi.Size() > MaxRequestBytes {
		return nil, ErrOversize
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxRequestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRequestBytes {
		return nil, ErrOversize // grew while we read it
	}
	return b, nil
}
