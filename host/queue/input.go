package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/atomicfile"
)

// closeSentinel is the empty file that asks a container to finish after its current turn.
const closeSentinel = "_close"

// inputMessage is a follow-up message as the agent runner reads it.
type inputMessage struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// writeMessage writes text into dir as <unix-ms>-<4 base36>.json, atomically: the agent
// runner only reads *.json, so it never sees the <name>.json.tmp being written. Names sort
// chronologically, which is the order the runner reads them in. It returns the file name.
func writeMessage(dir, text string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the text is XML: keep it readable, as JSON.stringify does
	if err := enc.Encode(inputMessage{Type: "message", Text: text}); err != nil {
		return "", fmt.Errorf("encode input message: %w", err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("input directory: %w", err)
	}
	for range 8 {
		name := strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + randBase36(4) + ".json"
		final := filepath.Join(dir, name)
		if _, err := os.Lstat(final); err == nil {
			continue // same millisecond, same suffix: pick another name rather than overwrite
		}
		f, err := os.OpenFile(final+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("input message: %w", err)
		}
		if err := commit(f, data, final); err != nil {
			return "", fmt.Errorf("input message %s: %w", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("input message: no free file name in %s", dir)
}

// writeClose writes the empty close sentinel into dir, atomically (atomicfile's temporary
// name is unique and neither _close nor *.json, so concurrent closes never collide and the
// runner ignores it).
func writeClose(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("input directory: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, closeSentinel), nil, 0o644); err != nil {
		return fmt.Errorf("close sentinel: %w", err)
	}
	return nil
}

// commit writes data to the open temporary file f, syncs and closes it, and renames it to
// final; on failure the temporary file is removed.
func commit(f *os.File, data []byte, final string) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644) // the umask may have narrowed it
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

func randBase36(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base36[rand.IntN(len(base36))]
	}
	return string(b)
}
