package media

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

var t0 = time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)

// newFolders is a project with the group "family" prepared.
func newFolders(t *testing.T) (*agentfs.FS, string) {
	t.Helper()
	root := t.TempDir()
	f, err := agentfs.New(root, agentfs.OwnerFor(os.Getuid(), os.Getgid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "groups", "family"), 0o755); err != nil {
		t.Fatal(err)
	}
	return f, filepath.Join(root, "groups", "family")
}

// bytesMedia is a fetchable file with the given content; fetched counts the downloads.
func bytesMedia(kind, mimeType string, data []byte, fetched *int) channel.Media {
	return channel.Media{Kind: kind, MIME: mimeType, Size: int64(len(data)), Fetch: func(_ context.Context, limit int64) ([]byte, error) {
		*fetched++
		if int64(len(data)) > limit {
			return nil, channel.ErrMediaTooLarge
		}
		return data, nil
	}}
}

// TestSave: each rule of what is kept, and how the rest is described.
func TestSave(t *testing.T) {
	big := make([]byte, 2000)
	tests := []struct {
		name      string
		limits    Limits
		preload   int // bytes already in media/
		media     func(fetched *int) channel.Media
		want      store.Attachment
		fetches   int
		wantFile  string
		skipMatch string
	}{
		{name: "photo kept under media/ with the day and message id",
			media:   func(n *int) channel.Media { return bytesMedia("image", "image/jpeg", []byte("jpegdata"), n) },
			want:    store.Attachment{Kind: "image", MIME: "image/jpeg", Size: 8, Path: "media/20261205-ABC123.jpg"},
			fetches: 1, wantFile: "media/20261205-ABC123.jpg"},
		{name: "document keeps a cleaned sender name",
			media: func(n *int) channel.Media {
				m := bytesMedia("document", "application/pdf", []byte("%PDF-1.4"), n)
				m.FileName = "../../Q3 report.pdf"
				return m
			},
			want:    store.Attachment{Kind: "document", MIME: "application/pdf", FileName: "Q3_report.pdf", Size: 8, Path: "media/20261205-ABC123-Q3_report.pdf"},
			fetches: 1, wantFile: "media/20261205-ABC123-Q3_report.pdf"},
		{name: "voice note with its length; type sniffed when not declared",
			media: func(n *int) channel.Media {
				m := bytesMedia("voice", "", []byte("OggS\x00\x02rest"), n)
				m.Seconds = 7
				return m
			},
			want:    store.Attachment{Kind: "voice", MIME: "application/ogg", Size: 10, Seconds: 7, Path: "media/20261205-ABC123.ogg"},
			fetches: 1, wantFile: "media/20261205-ABC123.ogg"},
		{name: "announced over the per-file cap: never downloaded",
			limits:    Limits{MaxFile: 1000},
			media:     func(n *int) channel.Media { return bytesMedia("video", "video/mp4", big, n) },
			want:      store.Attachment{Kind: "video", MIME: "video/mp4", Size: 2000},
			skipMatch: "2 KB is over the 1000 B per-file limit, so it was not downloaded"},
		{name: "larger than announced: stopped by the fetch",
			limits: Limits{MaxFile: 1000},
			media: func(n *int) channel.Media {
				m := bytesMedia("video", "video/mp4", big, n)
				m.Size = 10
				return m
			},
			want:      store.Attachment{Kind: "video", MIME: "video/mp4", Size: 10},
			fetches:   1,
			skipMatch: "over the 1000 B per-file limit"},
		{name: "a fetch that ignores the limit is still refused",
			limits: Limits{MaxFile: 1000},
			media: func(n *int) channel.Media {
				return channel.Media{Kind: "document", Fetch: func(context.Context, int64) ([]byte, error) { *n++; return big, nil }}
			},
			want:      store.Attachment{Kind: "document"},
			fetches:   1,
			skipMatch: "2 KB is over the 1000 B per-file limit"},
		{name: "group folder full",
			limits:    Limits{MaxGroup: 1500},
			preload:   1000,
			media:     func(n *int) channel.Media { return bytesMedia("image", "image/png", big[:600], n) },
			want:      store.Attachment{Kind: "image", MIME: "image/png", Size: 600},
			skipMatch: "the group's media folder is full (1000 B of 1.5 KB used); delete files from /workspace/group/media"},
		{name: "group folder full after the download (size not announced)",
			limits:  Limits{MaxGroup: 1500},
			preload: 1000,
			media: func(n *int) channel.Media {
				return channel.Media{Kind: "image", Fetch: func(context.Context, int64) ([]byte, error) { *n++; return big[:600], nil }}
			},
			want:      store.Attachment{Kind: "image"},
			fetches:   1,
			skipMatch: "media folder is full"},
		{name: "failed download",
			media: func(n *int) channel.Media {
				return channel.Media{Kind: "image", Size: 5, Fetch: func(context.Context, int64) ([]byte, error) {
					*n++
					return nil, errors.New("invalid media hmac")
				}}
			},
			want: store.Attachment{Kind: "image", Size: 5}, fetches: 1, skipMatch: "the download failed"},
		{name: "empty download",
			media: func(n *int) channel.Media { return bytesMedia("image", "image/jpeg", nil, n) },
			want:  store.Attachment{Kind: "image", MIME: "image/jpeg"}, fetches: 1, skipMatch: "the file was empty"},
		{name: "no way to fetch",
			media: func(*int) channel.Media { return channel.Media{Kind: "sticker"} },
			want:  store.Attachment{Kind: "sticker"}, skipMatch: "could not be downloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			folders, dir := newFolders(t)
			if tt.preload > 0 {
				if err := folders.WriteFile("family", "media/old.bin", make([]byte, tt.preload)); err != nil {
					t.Fatal(err)
				}
			}
			s := New(folders, tt.limits, nil, func() time.Time { return t0 })
			fetched := 0
			got := s.Save(context.Background(), "family", "ABC-123", []channel.Media{tt.media(&fetched)})
			if len(got) != 1 {
				t.Fatalf("%d attachments", len(got))
			}
			if tt.skipMatch != "" {
				if !strings.Contains(got[0].Skipped, tt.skipMatch) {
					t.Fatalf("skipped %q, want it to say %q", got[0].Skipped, tt.skipMatch)
				}
				got[0].Skipped = ""
			} else if got[0].Skipped != "" {
				t.Fatalf("skipped: %s", got[0].Skipped)
			}
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Fatalf("attachment %+v\nwant %+v", got[0], tt.want)
			}
			if fetched != tt.fetches {
				t.Errorf("%d fetches, want %d", fetched, tt.fetches)
			}
			if tt.wantFile != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.wantFile)); err != nil {
					t.Errorf("file not written: %v", err)
				}
			}
		})
	}
}

// TestSaveNeverFollowsTheAgentsLink: a link the agent left at the file's name is not
// written through; the file gets the next name.
func TestSaveNeverFollowsTheAgentsLink(t *testing.T) {
	folders, dir := newFolders(t)
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "media", "20261205-M1.jpg")); err != nil {
		t.Fatal(err)
	}
	s := New(folders, Limits{}, nil, func() time.Time { return t0 })
	n := 0
	got := s.Save(context.Background(), "family", "M1", []channel.Media{bytesMedia("image", "image/jpeg", []byte("new"), &n),
		bytesMedia("image", "image/jpeg", []byte("second"), &n)})
	if got[0].Path != "media/20261205-M1.2.jpg" || got[1].Path != "media/20261205-M1-2.jpg" {
		t.Fatalf("paths %q, %q", got[0].Path, got[1].Path)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatalf("the link's target was written: %q", b)
	}
}

func TestCleanNameAndSize(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf": "report.pdf", "../../etc/passwd": "passwd", `C:\Users\a\b.txt`: "b.txt", ".bashrc": "bashrc",
		"a\x00b\nc.txt": "a_b_c.txt", "": "", "..": "", strings.Repeat("é", 60) + ".pdf": strings.Repeat("é", 38) + ".pdf",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KB", 1536: "1.5 KB", 25 << 20: "25 MB", 1 << 30: "1 GB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzCleanName: any sender's name becomes one harmless path component.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a.pdf", "../x", "/", "\\", ".", "é", "a/b\\c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := cleanName(s)
		if strings.ContainsAny(n, "/\\\x00\n") || strings.HasPrefix(n, ".") || len(n) > 80 {
			t.Fatalf("cleanName(%q) = %q", s, n)
		}
	})
}
