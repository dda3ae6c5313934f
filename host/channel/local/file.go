package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// fileMedia describes a file a chat client sent, as a WhatsApp message would carry it: a
// photo (JPEG, PNG, GIF or WebP) is an image, audio and video are what they are, anything
// else is a document with its name. The type is sniffed from the bytes, and taken from the
// name only where sniffing cannot tell (a PDF sniffs; an .ogg voice note may not).
func fileMedia(name string, data []byte) channel.Media {
	mt := http.DetectContentType(data)
	if base, _, _ := strings.Cut(mt, ";"); base == "application/octet-stream" || base == "text/plain" {
		ext := strings.ToLower(path.Ext(name))
		if byExt, ok := mediaExt[ext]; ok {
			mt = byExt
		} else if byExt := mime.TypeByExtension(ext); byExt != "" {
			mt = byExt
		}
	}
	base, _, _ := strings.Cut(mt, ";")
	m := channel.Media{MIME: mt, Size: int64(len(data)), Fetch: func(_ context.Context, limit int64) ([]byte, error) {
		if int64(len(data)) > limit {
			return nil, channel.ErrMediaTooLarge
		}
		return data, nil
	}}
	switch {
	case base == "image/jpeg", base == "image/png", base == "image/gif", base == "image/webp":
		m.Kind = "image"
	case strings.HasPrefix(base, "audio/"), base == "application/ogg":
		m.Kind = "audio"
	case strings.HasPrefix(base, "video/"):
		m.Kind = "video"
	default:
		m.Kind, m.FileName = "document", name
	}
	return m
}

// mediaExt are the audio and video types a name tells where the bytes may not (the
// system's table may lack them).
var mediaExt = map[string]string{
	".ogg": "audio/ogg", ".opus": "audio/ogg", ".oga": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
	".aac": "audio/aac", ".wav": "audio/wav", ".amr": "audio/amr", ".mp4": "video/mp4", ".m4v": "video/mp4",
	".mov": "video/quicktime", ".3gp": "video/3gpp", ".webm": "video/webm", ".mkv": "video/x-matroska",
}

// placeholder is a file message's text when it has no caption, as WhatsApp's messages read.
func placeholder(m channel.Media) string {
	if m.Kind == "document" && m.FileName != "" {
		return "[document: " + m.FileName + "]"
	}
	return "[" + m.Kind + "]"
}

// fileCommand recognises a "/file PATH [caption]" line and returns what follows /file.
func fileCommand(line string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	rest, ok := strings.CutPrefix(t, "/file")
	if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// readFileFrame reads the file a /file line names and makes its frame. PATH is the first
// word, or a double-quoted path with spaces; "~/" is the home directory; the rest of the
// line is the caption.
func readFileFrame(arg string) (clientFrame, error) {
	p, caption := splitPath(arg)
	if p == "" {
		return clientFrame{}, errors.New("usage: /file PATH [caption]")
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return clientFrame{}, fmt.Errorf("cannot send %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return clientFrame{}, fmt.Errorf("cannot send %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return clientFrame{}, fmt.Errorf("cannot send %s: not a regular file", p)
	}
	if fi.Size() > MaxFileBytes {
		return clientFrame{}, fmt.Errorf("cannot send %s: larger than %d MB", p, MaxFileBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return clientFrame{}, fmt.Errorf("cannot send %s: %w", p, err)
	}
	if len(data) == 0 || len(data) > MaxFileBytes {
		return clientFrame{}, fmt.Errorf("cannot send %s: empty, or larger than %d MB", p, MaxFileBytes>>20)
	}
	return clientFrame{Type: typeFile, File: filepath.Base(p), Data: data, Text: caption}, nil
}

// splitPath cuts a /file argument into its path and caption.
func splitPath(arg string) (p, caption string) {
	if rest, ok := strings.CutPrefix(arg, `"`); ok {
		if i := strings.IndexByte(rest, '"'); i >= 0 {
			return rest[:i], strings.TrimSpace(rest[i+1:])
		}
		return rest, ""
	}
	if i := strings.IndexAny(arg, " \t"); i >= 0 {
		return arg[:i], strings.TrimSpace(arg[i+1:])
	}
	return arg, ""
}
