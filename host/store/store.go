package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrInvalidFolder: a group folder breaks the folder rule, so it could escape groups/ or
	// collide with the reserved global memory folder.
	ErrInvalidFolder = errors.New("invalid group folder")
	// ErrFolderTaken: another JID is already registered with that folder; two chats must never
	// share one agent's memory and IPC directory.
	ErrFolderTaken = errors.New("group folder already registered to another chat")
	// ErrTaskNotFound: the task does not exist (it may have been cancelled while it ran).
	ErrTaskNotFound = errors.New("task not found")
)

// readerConns caps the read pool. WAL lets readers run beside the single writer, so a few
// connections keep the poll loop, IPC and the scheduler from queueing behind each other.
const readerConns = 4

// Store is the host's database. It is safe for concurrent use: writes go through one
// connection (SQLite allows one writer anyway, and queueing in Go avoids SQLITE_BUSY), reads
// through a small read-only pool that WAL lets run alongside the writer.
type Store struct {
	w   *sql.DB // one connection, BEGIN IMMEDIATE: every write and read-modify-write
	r   *sql.DB // query_only connections for plain reads
	log hclog.Logger
	now func() time.Time
}

// Option configures Open.
type Option func(*Store)

// WithLogger sets where the store reports rows it skips (a registered group whose folder
// breaks the folder rule, say). Default: discard.
func WithLogger(l hclog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Open opens (creating if needed) the database at path and brings its schema up to date.
// The parent directory is created 0700 and the database file is made 0600 (an existing one
// and its -wal and -shm files lose group and other access), because the file holds every
// registered chat's messages. An existing NanoClaw v1 database is migrated in place. The
// mode of an existing parent directory is the caller's (path may be anywhere).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	s := &Store{log: hclog.NewNullLogger(), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: create database directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: create database file: %w", err)
	}
	err = ownerOnly(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("store: database file permissions: %w", err)
	}
	// SQLite gives its -wal and -shm files the database's mode when it creates them; ones
	// an older program left are tightened here.
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := ownerOnlyPath(abs + suffix); err != nil {
			return nil, fmt.Errorf("store: database file permissions: %w", err)
		}
	}

	base := dsn(abs)
	if s.w, err = sql.Open("sqlite", base+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	if err := s.migrate(ctx, migrations()); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", abs, err)
	}
	// The read pool opens after the migrations, so its connections find the file in WAL mode
	// with the current schema.
	if s.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)"); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", abs, err)
	}
	s.r.SetMaxOpenConns(readerConns)
	s.r.SetMaxIdleConns(readerConns)
	if err := s.r.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", abs, err)
	}
	return s, nil
}

// ownerOnly takes group and other access away from an open file. A database NanoClaw
// created is 0644 (better-sqlite3's default), and it holds every registered chat's
// messages and what each group spent on the model API.
func ownerOnly(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return f.Chmod(perm &^ 0o077)
	}
	return nil
}

// ownerOnlyPath is ownerOnly for a regular file that may not exist.
func ownerOnlyPath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil
	}
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return os.Chmod(path, perm&^0o077)
	}
	return nil
}

// dsn builds the driver's URI for path. The path is escaped because SQLite reads a "file:"
// name as a URI: a '?', '#' or '%' in a directory name would otherwise cut it short.
func dsn(abs string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// withTx runs fn in one write transaction (BEGIN IMMEDIATE on the single writer), committing
// when fn returns nil, so read-modify-write sequences cannot interleave.
func (s *Store) withTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nullIfEmpty maps Go's "" to SQL NULL, NanoClaw's "absent".
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// boolInt stores a Go bool as NanoClaw's 0/1 INTEGER.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
