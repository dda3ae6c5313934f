package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Paired reports whether storeDir holds a WhatsApp session: a device with an id in
// whatsapp.db, which whatsmeow writes only once pairing succeeded. A missing file, a file a
// failed `nanoclaw auth` left (tables, no device), or a logged-out session (device deleted)
// is not paired. It returns the paired account's JID, and never creates or changes the
// file: it opens it read-only, so `make run` and `nanoclaw status` can ask at any time.
func Paired(ctx context.Context, storeDir string) (jid string, ok bool, err error) {
	path := filepath.Join(storeDir, StoreFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("whatsapp session: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, fmt.Errorf("whatsapp session: %w", err)
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return "", false, fmt.Errorf("whatsapp session: %w", err)
	}
	defer db.Close()
	var found string
	err = db.QueryRowContext(ctx, `SELECT jid FROM whatsmeow_device WHERE jid IS NOT NULL AND jid != '' LIMIT 1`).Scan(&found)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil && strings.Contains(err.Error(), "no such table"):
		return "", false, nil // created, never paired
	case err != nil:
		return "", false, fmt.Errorf("whatsapp session %s: %w", path, err)
	}
	return found, true, nil
}
