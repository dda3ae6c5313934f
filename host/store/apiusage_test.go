package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

func TestAPIUsageAddsUpPerGroupAndDay(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	steps := []struct {
		name   string
		deltas []APIUsage
	}{
		{"first request", []APIUsage{{Group: "main", Day: "2026-03-01", InputTokens: 10, OutputTokens: 5, CacheReadTokens: 3, CacheWriteTokens: 2, Requests: 1}}},
		{"a refusal", []APIUsage{{Group: "main", Day: "2026-03-01", Refusals: 1}}},
		{"a batch: two groups and the next day", []APIUsage{
			{Group: "main", Day: "2026-03-01", InputTokens: 1, OutputTokens: 1, Requests: 1},
			{Group: "family", Day: "2026-03-01", InputTokens: 7, Requests: 1},
			{Group: "main", Day: "2026-03-02", OutputTokens: 9, Requests: 1},
		}},
		{"nothing", nil},
	}
	for _, st := range steps {
		if err := s.AddAPIUsage(ctx, st.deltas...); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	got, err := s.APIUsageOn(ctx, "2026-03-01")
	if err != nil {
		t.Fatal(err)
	}
	want := []APIUsage{
		{Group: "family", Day: "2026-03-01", InputTokens: 7, Requests: 1},
		{Group: "main", Day: "2026-03-01", InputTokens: 11, OutputTokens: 6, CacheReadTokens: 3, CacheWriteTokens: 2, Requests: 2, Refusals: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("2026-03-01: %+v\nwant %+v", got, want)
	}
	if got, err := s.APIUsageOn(ctx, "2026-03-03"); err != nil || len(got) != 0 {
		t.Errorf("a day with no use: %+v, %v", got, err)
	}
	// A batch with a bad row is not applied in part.
	if err := s.AddAPIUsage(ctx, APIUsage{Group: "main", Day: "2026-03-02", Requests: 1}, APIUsage{Group: "", Day: "2026-03-02"}); err == nil {
		t.Error("a delta without a group was accepted")
	}
	if got, _ := s.APIUsageOn(ctx, "2026-03-02"); len(got) != 1 || got[0].Requests != 1 {
		t.Errorf("half a batch was applied: %+v", got)
	}
}

// TestDatabaseNotWorldReadable: what the proxy persists (and every chat's messages) is in
// the database, so an existing database left world-readable, as NanoClaw's default mode
// made it, is tightened to the owner on open, with its WAL and shared-memory files; a new
// one is created 0600 in a new 0700 directory.
func TestDatabaseNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask; restored below
	defer syscall.Umask(old)
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"new database", func(*testing.T, string) {}},
		{"existing 0644 database with its wal files", func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`PRAGMA journal_mode=WAL; CREATE TABLE x (a); INSERT INTO x VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.WriteFile(f, nil, 0o644); err != nil && !os.IsExist(err) {
					t.Fatal(err)
				}
				if err := os.Chmod(f, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			path := filepath.Join(dir, "nanoclaw.db")
			tt.prepare(t, path)
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.AddAPIUsage(ctx, APIUsage{Group: "main", Day: "2026-03-01", Requests: 1}); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("store dir: %v, %v; want 0700", fi.Mode().Perm(), err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
				}
			}
		})
	}
}
