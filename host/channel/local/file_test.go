package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// mediaSink is a fakeSink that takes files: each file message's media is fetched (as the
// host would) and recorded before the message goes on like any other.
type mediaSink struct {
	*fakeSink
	mu    sync.Mutex
	files []fetched
}

// fetched is one file a message brought, with the message's text.
type fetched struct {
	content string
	media   channel.Media
	data    []byte
}

func (s *mediaSink) OnMediaMessage(ctx context.Context, m store.Message, ms []channel.Media) error {
	for _, md := range ms {
		data, err := md.Fetch(ctx, 1<<30)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.files = append(s.files, fetched{content: m.Content, media: md, data: data})
		s.mu.Unlock()
	}
	return s.fakeSink.OnMessage(ctx, m)
}

func (s *mediaSink) got() []fetched {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fetched(nil), s.files...)
}

var testJPEGHead = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00 a photo")

// TestChatSendsFiles: "/file PATH [caption]" sends the file, which reaches the host as a
// message with the file offered to fetch; a path that cannot be sent is an error line and
// nothing goes out.
func TestChatSendsFiles(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "my photo.jpg")
	if err := os.WriteFile(photo, testJPEGHead, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "notes.md")
	if err := os.WriteFile(doc, []byte("# notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := &mediaSink{fakeSink: newSink()}
	c := newChannel(t, sink)
	start(t, c)
	echoAgent(t, c, sink.fakeSink)
	in := `/file "` + photo + `" look at this` + "\n" +
		"/file " + filepath.Join(dir, "missing.jpg") + "\n" +
		"/file " + dir + "\n" +
		"/file " + doc + "\n"
	out, err := runChat(t, context.Background(), c.SocketPath(), ChatOptions{Chat: "work", Name: "bob", Replies: 2}, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Andy: re: look at this from local:user:bob\n",
		"Andy: re: [document: notes.md] from local:user:bob\n",
		"[error] cannot send " + filepath.Join(dir, "missing.jpg"),
		"[error] cannot send " + dir + ": not a regular file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	files := sink.got()
	if len(files) != 2 {
		t.Fatalf("%d files reached the host, want 2", len(files))
	}
	if f := files[0]; f.content != "look at this" || f.media.Kind != "image" || f.media.MIME != "image/jpeg" ||
		f.media.FileName != "" || f.media.Size != int64(len(testJPEGHead)) || !bytes.Equal(f.data, testJPEGHead) {
		t.Errorf("photo: %+v", f)
	}
	if f := files[1]; f.content != "[document: notes.md]" || f.media.Kind != "document" || f.media.FileName != "notes.md" {
		t.Errorf("document: %+v", f)
	}
}

// TestFileFrames: a file frame may pass MaxLine; a message may not; a bad file frame is an
// error reply; the host keeps only the file's base name; a sink without files gets the
// message with its placeholder.
func TestFileFrames(t *testing.T) {
	sink := &mediaSink{fakeSink: newSink()}
	c := newChannel(t, sink)
	start(t, c)
	cl := dial(t, c.SocketPath())
	cl.hello(t, "", "")

	big := append(append([]byte(nil), testJPEGHead...), make([]byte, 2*MaxLine)...)
	cl.send(t, clientFrame{Type: typeFile, ID: "f1", File: "../../etc/evil.jpg", Data: big})
	cl.expect(t, typeAck, "f1")
	if _, m := sink.message(t); m.Content != "[image]" {
		t.Fatalf("content %q", m.Content)
	}
	if f := sink.got(); len(f) != 1 || len(f[0].data) != len(big) || f[0].media.Kind != "image" {
		t.Fatalf("files %d", len(f))
	}

	cl.raw(t, `{"type":"file","id":"f2","file":"x"}`)
	if f := cl.next(t); f.Type != typeError || f.ID != "f2" || !strings.Contains(f.Error, "empty file") {
		t.Fatalf("empty file: %+v", f)
	}
	cl.raw(t, `{"type":"file","id":"f3","data":"not base64!"}`)
	if f := cl.next(t); f.Type != typeError || !strings.Contains(f.Error, "invalid JSON") {
		t.Fatalf("bad base64: %+v", f)
	}
	oggFrame := clientFrame{Type: typeFile, ID: "f4", File: "voice.ogg", Data: []byte("OggS\x00\x02 voice"), Text: "listen"}
	cl.send(t, oggFrame)
	cl.expect(t, typeAck, "f4")
	if _, m := sink.message(t); m.Content != "listen" {
		t.Fatalf("content %q", m.Content)
	}

	// A plain sink: the message, no file.
	plain := newSink()
	c2 := newChannel(t, plain)
	start(t, c2)
	cl2 := dial(t, c2.SocketPath())
	cl2.hello(t, "", "")
	cl2.send(t, clientFrame{Type: typeFile, ID: "p1", File: "a.pdf", Data: []byte("%PDF-1.4")})
	cl2.expect(t, typeAck, "p1")
	if _, m := plain.message(t); m.Content != "[document: a.pdf]" {
		t.Fatalf("content %q", m.Content)
	}

	// A message frame over MaxLine still closes the connection.
	cl3 := dial(t, c.SocketPath())
	cl3.hello(t, "", "")
	go func() {
		cl3.conn.Write([]byte(`{"type":"message","text":"` + strings.Repeat("a", MaxLine) + `"}` + "\n"))
	}()
	if f := cl3.next(t); f.Type != typeError || !strings.Contains(f.Error, "longer than") {
		t.Fatalf("long message: %+v", f)
	}
	cl3.expectClosed(t)
}

// TestFileMedia: what kind of message a file becomes.
func TestFileMedia(t *testing.T) {
	pngHead := []byte("\x89PNG\r\n\x1a\n....")
	tests := []struct {
		name, file string
		data       []byte
		kind, mime string
		fileName   string
	}{
		{"jpeg", "a.jpg", testJPEGHead, "image", "image/jpeg", ""},
		{"png named wrong", "a.txt", pngHead, "image", "image/png", ""},
		{"pdf", "r.pdf", []byte("%PDF-1.4"), "document", "application/pdf", "r.pdf"},
		{"ogg voice", "v.ogg", []byte("OggS\x00"), "audio", "application/ogg", ""},
		{"mp3 by extension", "s.mp3", []byte{0x01, 0x02, 0x03}, "audio", "audio/mpeg", ""},
		{"unknown binary", "blob", []byte{0x01, 0x02}, "document", "application/octet-stream", "blob"},
		{"opus voice by extension", "v.opus", []byte{0x01, 0x02, 0x03}, "audio", "audio/ogg", ""},
		{"video by extension", "clip.mov", []byte{0x01, 0x02, 0x03}, "video", "video/quicktime", ""},
		{"text", "notes", []byte("# hi"), "document", "text/plain; charset=utf-8", "notes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fileMedia(tt.file, tt.data)
			if m.Kind != tt.kind || m.MIME != tt.mime || m.FileName != tt.fileName || m.Size != int64(len(tt.data)) {
				t.Fatalf("media %+v", m)
			}
			if _, err := m.Fetch(context.Background(), 1); err == nil && len(tt.data) > 1 {
				t.Fatal("a fetch past its limit succeeded")
			}
		})
	}
}

// TestFileCommand: how a /file line is read.
func TestFileCommand(t *testing.T) {
	for _, tt := range []struct {
		line, path, caption string
		ok                  bool
	}{
		{"/file a.jpg", "a.jpg", "", true},
		{"  /file a.jpg nice one ", "a.jpg", "nice one", true},
		{`/file "my photo.jpg" caption here`, "my photo.jpg", "caption here", true},
		{`/file "unterminated.jpg`, "unterminated.jpg", "", true},
		{"/file", "", "", true},
		{"/filex a", "", "", false},
		{"see /file a", "", "", false},
		{"hello", "", "", false},
	} {
		rest, ok := fileCommand(tt.line)
		if ok != tt.ok {
			t.Errorf("%q: ok %v", tt.line, ok)
			continue
		}
		if !ok {
			continue
		}
		p, c := splitPath(rest)
		if p != tt.path || c != tt.caption {
			t.Errorf("%q: path %q caption %q", tt.line, p, c)
		}
	}
	if _, err := readFileFrame(""); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("empty /file: %v", err)
	}
}
