// Package media keeps the files that come with chat messages: each is fetched only when the
// caps allow it, written into the receiving group's folder (media/, through agentfs, so
// nothing an agent put there is followed), and described for the prompt. What is not kept
// is described too, with the reason, so the agent can tell the sender.
package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Default caps (NANOCLAW_MEDIA_MAX_FILE, NANOCLAW_MEDIA_MAX_GROUP).
const (
	DefaultMaxFile  = 25 << 20
	DefaultMaxGroup = 1 << 30
)

// fetchTimeout bounds one file's download.
const fetchTimeout = 2 * time.Minute

// Folders is where files are written: agentfs.FS in the host.
type Folders interface {
	// WriteFile creates groups/<folder>/<rel> (O_EXCL, never through a link).
	WriteFile(folder, rel string, data []byte) error
	// Usage is the bytes held by regular files under groups/<folder>/<rel>.
	Usage(folder, rel string) (int64, error)
}

// Limits are the caps on what is kept.
type Limits struct {
	MaxFile  int64 // one file; 0 means DefaultMaxFile
	MaxGroup int64 // a group's media folder; 0 means DefaultMaxGroup
}

// Store writes received files into group folders.
type Store struct {
	folders Folders
	limits  Limits
	log     hclog.Logger
	now     func() time.Time

	mu sync.Mutex // one save at a time: the group cap is checked and filled atomically
}

// New is a Store over folders; a nil log discards, a nil now is time.Now.
func New(folders Folders, limits Limits, log hclog.Logger, now func() time.Time) *Store {
	if limits.MaxFile <= 0 {
		limits.MaxFile = DefaultMaxFile
	}
	if limits.MaxGroup <= 0 {
		limits.MaxGroup = DefaultMaxGroup
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if now == nil {
		now = time.Now
	}
	return &Store{folders: folders, limits: limits, log: log, now: now}
}

// Save fetches and keeps the files of message msgID for the group in folder, and describes
// each, kept or not. It never fails as a whole: a file that cannot be had is described
// with the reason, and the message goes on without it.
func (s *Store) Save(ctx context.Context, folder, msgID string, items []channel.Media) []store.Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Attachment
	for i, m := range items {
		a := store.Attachment{Kind: m.Kind, MIME: m.MIME, FileName: cleanName(m.FileName), Size: max(m.Size, 0),
			Seconds: max(m.Seconds, 0), Width: max(m.Width, 0), Height: max(m.Height, 0)}
		a.Skipped = s.save(ctx, folder, msgID, i, m, &a)
		if a.Skipped != "" {
			s.log.Info("received file not kept", "group", folder, "message", msgID, "kind", m.Kind, "reason", a.Skipped)
		}
		out = append(out, a)
	}
	return out
}

// save fetches and writes one file, filling in a; it returns why the file was not kept.
func (s *Store) save(ctx context.Context, folder, msgID string, i int, m channel.Media, a *store.Attachment) string {
	maxFile := s.limits.MaxFile
	if m.Size > maxFile {
		return fmt.Sprintf("%s is over the %s per-file limit, so it was not downloaded", Size(m.Size), Size(maxFile))
	}
	used, err := s.folders.Usage(folder, runproto.MediaDir)
	if err != nil {
		s.log.Warn("measuring a group's media folder", "group", folder, "error", err)
		return "the group's media folder could not be measured"
	}
	room := s.limits.MaxGroup - used
	if m.Size > room || room <= 0 {
		return fmt.Sprintf("the group's media folder is full (%s of %s used); delete files from %s/%s to make room",
			Size(used), Size(s.limits.MaxGroup), runproto.GroupDir, runproto.MediaDir)
	}
	if m.Fetch == nil {
		return "the file could not be downloaded"
	}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	data, err := m.Fetch(fctx, min(maxFile, room))
	cancel()
	switch {
	case errors.Is(err, channel.ErrMediaTooLarge):
		return fmt.Sprintf("the file is over the %s per-file limit", Size(maxFile))
	case err != nil:
		s.log.Warn("downloading a received file", "group", folder, "message", msgID, "error", err)
		return "the download failed"
	case int64(len(data)) > maxFile:
		return fmt.Sprintf("%s is over the %s per-file limit", Size(int64(len(data))), Size(maxFile))
	case int64(len(data)) > room:
		return fmt.Sprintf("the group's media folder is full (%s of %s used); delete files from %s/%s to make room",
			Size(used), Size(s.limits.MaxGroup), runproto.GroupDir, runproto.MediaDir)
	case len(data) == 0:
		return "the file was empty"
	}
	a.Size = int64(len(data))
	if a.MIME == "" || a.MIME == "application/octet-stream" {
		a.MIME = http.DetectContentType(data)
	}
	base := fileBase(s.now(), msgID, i)
	ext := extension(a.MIME, m.FileName, m.Kind)
	name := base + ext
	if n := cleanName(m.FileName); n != "" {
		name = base + "-" + n
		if path.Ext(n) == "" {
			name += ext
		}
	}
	rel := path.Join(runproto.MediaDir, name)
	for try := 2; ; try++ {
		err = s.folders.WriteFile(folder, rel, data)
		if !errors.Is(err, fs.ErrExist) || try > 9 {
			break
		}
		// A redelivered message, or a name the agent took: the next free one.
		rel = path.Join(runproto.MediaDir, fmt.Sprintf("%s.%d%s", strings.TrimSuffix(name, path.Ext(name)), try, path.Ext(name)))
	}
	if err != nil {
		s.log.Warn("storing a received file", "group", folder, "message", msgID, "error", err)
		return "the file could not be stored"
	}
	a.Path = rel
	return ""
}

// fileBase names a message's i-th file: the day, the message id (letters and digits only)
// and the index after the first.
func fileBase(now time.Time, msgID string, i int) string {
	id := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, msgID)
	if len(id) > 40 {
		id = id[len(id)-40:]
	}
	if id == "" {
		id = "file"
	}
	b := now.UTC().Format("20060102") + "-" + id
	if i > 0 {
		b += fmt.Sprintf("-%d", i+1)
	}
	return b
}

// cleanName makes a sender's file name safe to keep as one path component and to show:
// no separators, control characters, leading dots or names longer than 80 bytes.
func cleanName(n string) string {
	n = path.Base(strings.ReplaceAll(n, `\`, "/"))
	n = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '/', r == '"', r == '<', r == '>', r == '|', r == '*', r == '?', r == ':', r == unicode.ReplacementChar:
			return '_'
		case unicode.IsSpace(r):
			return '_'
		}
		return r
	}, n)
	n = strings.TrimLeft(n, ".")
	if len(n) > 80 {
		ext := path.Ext(n)
		if len(ext) > 10 {
			ext = ""
		}
		cut := 80 - len(ext)
		for cut > 0 && !utf8Start(n[cut]) {
			cut--
		}
		n = n[:cut] + ext
	}
	return n
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// knownExt are the extensions for the types WhatsApp sends, before the system's table
// (which may not know them, or prefer odd ones such as .jfif).
var knownExt = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
	"audio/ogg": ".ogg", "application/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr",
	"video/mp4": ".mp4", "video/3gpp": ".3gp", "video/quicktime": ".mov",
	"application/pdf": ".pdf", "text/plain": ".txt",
}

// extension is the file extension for a MIME type (parameters ignored), else the sender's
// name's, else by kind.
func extension(mimeType, fileName, kind string) string {
	mt, _, _ := mime.ParseMediaType(mimeType)
	if e, ok := knownExt[mt]; ok {
		return e
	}
	if e := path.Ext(cleanName(fileName)); e != "" && len(e) <= 10 {
		return e
	}
	if es, err := mime.ExtensionsByType(mt); err == nil && len(es) > 0 {
		return es[0]
	}
	switch kind {
	case "image", "sticker":
		return ".img"
	case "voice", "audio":
		return ".audio"
	case "video":
		return ".video"
	}
	return ".bin"
}

// Size writes a byte count for people: "512 B", "2.5 MB" (powers of 1024).
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KB", "MB", "GB", "TB", "PB"}[exp]
}
