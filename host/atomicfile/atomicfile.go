// Package atomicfile writes files that readers see whole or not at all. Agents and the host
// talk through files (IPC requests, follow-up input, snapshots), and both sides watch for
// them: a reader must never catch one half-written.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path through a uniquely named temporary file in the same directory
// (ending in ".tmp", which watchers ignore), synced, then renamed over path. Concurrent
// writers of one path never share a temporary file; the last rename wins.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm) // the umask may have narrowed it
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
