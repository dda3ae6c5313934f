package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
)

// sessionFile is the JSON persisted per session in <sessions dir>/<id>.json.
type sessionFile struct {
	Version   int                          `json:"version"`
	ID        string                       `json:"id"`
	UpdatedAt time.Time                    `json:"updatedAt"`
	Messages  []anthropic.BetaMessageParam `json:"messages"`
}

const sessionVersion = 1

// validSessionID keeps a session id from naming anything but a file in the sessions dir.
var validSessionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // UUID v4 layout, as Claude Code's session ids
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type sessionStore struct{ dir string }

func (s sessionStore) path(id string) string { return filepath.Join(s.dir, id+".json") }

// load returns the messages of session id. Any failure (bad id, missing, corrupt) is an error;
// the caller starts a fresh session.
func (s sessionStore) load(id string) ([]anthropic.BetaMessageParam, error) {
	if !validSessionID.MatchString(id) || id == "." || id == ".." {
		return nil, fmt.Errorf("invalid session id %q", id)
	}
	b, err := os.ReadFile(s.path(id))
	if err != nil {
		return nil, err
	}
	var f sessionFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("corrupt session file %s: %w", s.path(id), err)
	}
	if f.Version != sessionVersion {
		return nil, fmt.Errorf("session file %s has version %d, want %d", s.path(id), f.Version, sessionVersion)
	}
	for i, m := range f.Messages {
		if m.Role != anthropic.BetaMessageParamRoleUser && m.Role != anthropic.BetaMessageParamRoleAssistant {
			return nil, fmt.Errorf("corrupt session file %s: message %d has role %q", s.path(id), i, m.Role)
		}
	}
	if len(f.Messages) == 0 {
		return nil, errors.New("session has no messages")
	}
	return f.Messages, nil
}

// archive moves session id's file aside as <id>.unloadable-<UTC time>.json, so a session
// that cannot be loaded is kept for inspection but never offered again. It returns the
// archive's name, or "" when there was no file to move (a bad id, or none there).
func (s sessionStore) archive(id string, now time.Time) (string, error) {
	if !validSessionID.MatchString(id) || id == "." || id == ".." {
		return "", nil
	}
	name := id + ".unloadable-" + now.UTC().Format("20060102T150405Z") + ".json"
	if err := os.Rename(s.path(id), filepath.Join(s.dir, name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("archive session %s: %w", id, err)
	}
	return name, nil
}

// save writes the session atomically (temp file + rename), mode 0600.
func (s sessionStore) save(id string, msgs []anthropic.BetaMessageParam) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(sessionFile{Version: sessionVersion, ID: id, UpdatedAt: time.Now().UTC(), Messages: msgs})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, id+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return errors.Join(werr, cerr)
	}
	if err := os.Rename(tmp.Name(), s.path(id)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
