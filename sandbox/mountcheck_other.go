//go:build !linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
)

// errNoPinning: pinning and verifying mounts needs Linux's openat2 and /proc, so elsewhere
// every extra mount is refused rather than bound unverified.
var errNoPinning = errors.New("extra mounts can be verified only on Linux")

func pinDir(path string) (*os.File, FileID, error) {
	return nil, FileID{}, fmt.Errorf("pin %s: %w", path, errNoPinning)
}

func verifyInRoot(int, []Mount) error {
	return fmt.Errorf("%w: %w", ErrMountVerify, errNoPinning)
}
