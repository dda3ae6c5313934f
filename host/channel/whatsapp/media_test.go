package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/agentfs"
	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/media"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// Download is never called on the send side.
func (f *sendFakeClient) Download(context.Context, whatsmeow.DownloadableMessage) ([]byte, error) {
	return nil, errors.New("sendFakeClient: no downloads")
}

// fakeDownloader answers downloads by the media's direct path, as whatsmeow would fetch
// them from WhatsApp's servers, and counts them.
type fakeDownloader struct {
	mu    sync.Mutex
	files map[string]download
	calls []string
}

// download is what one direct path gives: data, an error, or both (whatsmeow's warnings).
type download struct {
	data []byte
	err  error
}

func (d *fakeDownloader) Download(_ context.Context, m whatsmeow.DownloadableMessage) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, m.GetDirectPath())
	f, ok := d.files[m.GetDirectPath()]
	if !ok {
		return nil, whatsmeow.ErrNoURLPresent
	}
	return f.data, f.err
}

// mediaClient is a real, unpaired whatsmeow client (its event dispatch) with a fake
// download side.
type mediaClient struct {
	*whatsmeow.Client
	dl *fakeDownloader
}

func (c mediaClient) Download(ctx context.Context, m whatsmeow.DownloadableMessage) ([]byte, error) {
	return c.dl.Download(ctx, m)
}

// mediaSink is the host's side for these tests: messages are recorded, and files are kept
// by the real media store in a real group folder, as the daemon does for a registered chat.
type mediaSink struct {
	recvSink
	media *media.Store
}

func (s *mediaSink) OnMediaMessage(ctx context.Context, m store.Message, ms []channel.Media) error {
	m.Attachments = s.media.Save(ctx, "family", m.ID, ms)
	return s.OnMessage(ctx, m)
}

// newMediaChannel wires a channel over a real unpaired client with the given downloads, a
// media store with the given caps, and returns the group folder's path.
func newMediaChannel(t *testing.T, files map[string]download, limits media.Limits) (*whatsmeow.Client, *mediaSink, *fakeDownloader, string) {
	t.Helper()
	ctx := context.Background()
	container, err := sqlstore.New(ctx, "sqlite", fmt.Sprintf("file:wa_media_%d?mode=memory&cache=shared&_pragma=foreign_keys(1)", time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = container.Close() })
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatalf("device: %v", err)
	}
	root := t.TempDir()
	folders, err := agentfs.New(root, agentfs.OwnerFor(os.Getuid(), os.Getgid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "groups", "family")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cli := whatsmeow.NewClient(dev, nil)
	dl := &fakeDownloader{files: files}
	sink := &mediaSink{media: media.New(folders, limits, nil, func() time.Time { return recvT0 })}
	New(Options{Sink: sink, AssistantName: recvAssistant, Now: func() time.Time { return recvT0 }}, mediaClient{cli, dl}, newRecvIdentity(t))
	return cli, sink, dl, dir
}

var (
	jpegBytes = []byte("\xff\xd8\xff\xe0 a photo")
	pdfBytes  = []byte("%PDF-1.4 a document")
)

func recvU64(n int) *uint64     { v := uint64(n); return &v }
func recvU32(n int) *uint32     { v := uint32(n); return &v }
func recvBool(b bool) *bool     { return &b }
func recvPath(p string) *string { return &p }

// TestReceiveMedia: every kind of file that comes with a message, through whatsmeow's own
// event dispatch, a fake download side and the host's media store: what is fetched, what
// is kept in the group folder, and what the stored message says.
func TestReceiveMedia(t *testing.T) {
	files := map[string]download{
		"/photo":     {data: jpegBytes},
		"/doc":       {data: pdfBytes},
		"/voice":     {data: []byte("OggS voice")},
		"/video":     {data: []byte("....ftypmp4 video")},
		"/sticker":   {data: []byte("RIFF....WEBPVP8 ")},
		"/corrupt":   {err: whatsmeow.ErrInvalidMediaHMAC},
		"/truncated": {data: jpegBytes[:5], err: fmt.Errorf("%w: expected 14, got 5", whatsmeow.ErrFileLengthMismatch)},
		"/huge":      {data: bytes.Repeat([]byte("x"), 3000)},
	}
	tests := []struct {
		name     string
		msg      *waE2E.Message
		viewOnce bool
		content  string
		want     store.Attachment // Skipped: a substring
		fetched  []string
		file     []byte // what the kept file holds
	}{
		{name: "photo with caption",
			msg: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: recvStr("look"), DirectPath: recvPath("/photo"),
				Mimetype: recvStr("image/jpeg"), FileLength: recvU64(len(jpegBytes)), Width: recvU32(800), Height: recvU32(600)}},
			content: "look",
			want:    store.Attachment{Kind: "image", MIME: "image/jpeg", Size: int64(len(jpegBytes)), Width: 800, Height: 600, Path: "media/20240102-M1.jpg"},
			fetched: []string{"/photo"}, file: jpegBytes},
		{name: "photo without caption",
			msg:     &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/photo"), Mimetype: recvStr("image/jpeg")}},
			content: "[image]",
			want:    store.Attachment{Kind: "image", MIME: "image/jpeg", Size: int64(len(jpegBytes)), Path: "media/20240102-M1.jpg"},
			fetched: []string{"/photo"}, file: jpegBytes},
		{name: "PDF document keeps its name",
			msg: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{DirectPath: recvPath("/doc"), Mimetype: recvStr("application/pdf"),
				FileName: recvStr("Q3 report.pdf")}},
			content: "[document: Q3 report.pdf]",
			want:    store.Attachment{Kind: "document", MIME: "application/pdf", FileName: "Q3_report.pdf", Size: int64(len(pdfBytes)), Path: "media/20240102-M1-Q3_report.pdf"},
			fetched: []string{"/doc"}, file: pdfBytes},
		{name: "voice note with its length",
			msg: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{DirectPath: recvPath("/voice"), Mimetype: recvStr("audio/ogg; codecs=opus"),
				PTT: recvBool(true), Seconds: recvU32(14)}},
			content: "[voice message]",
			want:    store.Attachment{Kind: "voice", MIME: "audio/ogg; codecs=opus", Size: 10, Seconds: 14, Path: "media/20240102-M1.ogg"},
			fetched: []string{"/voice"}},
		{name: "video with caption and length",
			msg: &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: recvStr("watch"), DirectPath: recvPath("/video"),
				Mimetype: recvStr("video/mp4"), Seconds: recvU32(75), Width: recvU32(640), Height: recvU32(360)}},
			content: "watch",
			want:    store.Attachment{Kind: "video", MIME: "video/mp4", Size: 17, Seconds: 75, Width: 640, Height: 360, Path: "media/20240102-M1.mp4"},
			fetched: []string{"/video"}},
		{name: "sticker",
			msg: &waE2E.Message{StickerMessage: &waE2E.StickerMessage{DirectPath: recvPath("/sticker"), Mimetype: recvStr("image/webp"),
				Width: recvU32(512), Height: recvU32(512)}},
			content: "[sticker]",
			want:    store.Attachment{Kind: "sticker", MIME: "image/webp", Size: 16, Width: 512, Height: 512, Path: "media/20240102-M1.webp"},
			fetched: []string{"/sticker"}},
		{name: "corrupt download: described, nothing kept",
			msg:     &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/corrupt"), Mimetype: recvStr("image/jpeg")}},
			content: "[image]",
			want:    store.Attachment{Kind: "image", MIME: "image/jpeg", Skipped: "the download failed"},
			fetched: []string{"/corrupt"}},
		{name: "truncated download: kept as it came (the runner decodes it, or says it cannot)",
			msg:     &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/truncated"), Mimetype: recvStr("image/jpeg"), FileLength: recvU64(14)}},
			content: "[image]",
			want:    store.Attachment{Kind: "image", MIME: "image/jpeg", Size: 5, Path: "media/20240102-M1.jpg"},
			fetched: []string{"/truncated"}, file: jpegBytes[:5]},
		{name: "announced over the cap: never downloaded",
			msg:     &waE2E.Message{VideoMessage: &waE2E.VideoMessage{DirectPath: recvPath("/huge"), Mimetype: recvStr("video/mp4"), FileLength: recvU64(3000)}},
			content: "[video]",
			want:    store.Attachment{Kind: "video", MIME: "video/mp4", Size: 3000, Skipped: "per-file limit, so it was not downloaded"}},
		{name: "larger than announced: downloaded, not kept",
			msg:     &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{DirectPath: recvPath("/huge"), FileName: recvStr("a.bin"), FileLength: recvU64(10)}},
			content: "[document: a.bin]",
			want:    store.Attachment{Kind: "document", FileName: "a.bin", Size: 10, Skipped: "over the 2 KB per-file limit"},
			fetched: []string{"/huge"}},
		{name: "view-once photo is not kept",
			msg:      &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/photo"), Mimetype: recvStr("image/jpeg")}},
			viewOnce: true,
			content:  "[image]",
			want:     store.Attachment{Kind: "image", MIME: "image/jpeg", Skipped: "could not be downloaded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, sink, dl, dir := newMediaChannel(t, files, media.Limits{MaxFile: 2048})
			evt := recvEvent(t, recvGroup, recvAlicePN, tt.msg)
			evt.IsViewOnce = tt.viewOnce
			if failed := cli.DangerousInternals().DispatchEvent(evt); failed {
				t.Fatal("a handler panicked")
			}
			ms := sink.messages()
			if len(ms) != 1 {
				t.Fatalf("%d messages stored, want 1", len(ms))
			}
			m := ms[0]
			if m.Content != tt.content || len(m.Attachments) != 1 {
				t.Fatalf("message %q with %d attachments, want %q with 1", m.Content, len(m.Attachments), tt.content)
			}
			got := m.Attachments[0]
			if tt.want.Skipped != "" {
				if !strings.Contains(got.Skipped, tt.want.Skipped) || got.Path != "" {
					t.Fatalf("attachment %+v: want it skipped saying %q", got, tt.want.Skipped)
				}
				got.Skipped, tt.want.Skipped = "", ""
			}
			if got != tt.want {
				t.Fatalf("attachment %+v\nwant %+v", got, tt.want)
			}
			if strings.Join(dl.calls, ",") != strings.Join(tt.fetched, ",") {
				t.Errorf("downloads %v, want %v", dl.calls, tt.fetched)
			}
			if tt.file != nil {
				b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(got.Path)))
				if err != nil || !bytes.Equal(b, tt.file) {
					t.Errorf("kept file %q, %v; want %q", b, err, tt.file)
				}
			}
		})
	}
}

// TestReceiveMediaGroupCap: once a group's media folder is full, a file is described as
// not kept, with the reason, and never downloaded.
func TestReceiveMediaGroupCap(t *testing.T) {
	files := map[string]download{"/photo": {data: jpegBytes}}
	cli, sink, dl, _ := newMediaChannel(t, files, media.Limits{MaxGroup: int64(len(jpegBytes)) + 4})
	photo := func(id string) *events.Message {
		e := recvEvent(t, recvGroup, recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/photo"),
			Mimetype: recvStr("image/jpeg"), FileLength: recvU64(len(jpegBytes))}})
		e.Info.ID = id
		return e
	}
	cli.DangerousInternals().DispatchEvent(photo("A"))
	cli.DangerousInternals().DispatchEvent(photo("B"))
	ms := sink.messages()
	if len(ms) != 2 {
		t.Fatalf("%d messages", len(ms))
	}
	if a := ms[0].Attachments[0]; a.Path == "" || a.Skipped != "" {
		t.Fatalf("first photo not kept: %+v", a)
	}
	if a := ms[1].Attachments[0]; a.Path != "" || !strings.Contains(a.Skipped, "media folder is full") {
		t.Fatalf("second photo: %+v", a)
	}
	if len(dl.calls) != 1 {
		t.Fatalf("downloads %v: the second should not be fetched", dl.calls)
	}
}

// TestReceiveMediaPlainSink: a sink that takes no files still gets the message, with its
// placeholder, and nothing is downloaded.
func TestReceiveMediaPlainSink(t *testing.T) {
	c, sink, _ := newRecvChannel(t, false)
	c.onMessage(recvEvent(t, recvGroup, recvAlicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/photo")}}))
	ms := sink.messages()
	if len(ms) != 1 || ms[0].Content != "[image]" || len(ms[0].Attachments) != 0 {
		t.Fatalf("messages %+v", ms)
	}
}

// FuzzReceiveMedia: whatever a download returns (any bytes, any error, any declared type,
// name and size), receiving never panics and the message is stored, naming a kept file
// only inside the media folder.
func FuzzReceiveMedia(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff"), "image/jpeg", "a.jpg", uint64(3), false, uint8(0))
	f.Add([]byte{}, "", "../../x", uint64(1<<40), true, uint8(2))
	f.Add([]byte("%PDF"), "application/pdf", "a/b\\c.pdf", uint64(0), false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mimeType, name string, length uint64, fail bool, kind uint8) {
		dl := download{data: data}
		if fail {
			dl.err = whatsmeow.ErrFileLengthMismatch
		}
		cli, sink, _, _ := newMediaChannel(t, map[string]download{"/f": dl}, media.Limits{MaxFile: 1024})
		var m *waE2E.Message
		switch kind % 4 {
		case 0:
			m = &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: recvPath("/f"), Mimetype: &mimeType, FileLength: &length}}
		case 1:
			m = &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{DirectPath: recvPath("/f"), Mimetype: &mimeType, FileName: &name, FileLength: &length}}
		case 2:
			m = &waE2E.Message{AudioMessage: &waE2E.AudioMessage{DirectPath: recvPath("/f"), Mimetype: &mimeType, FileLength: &length}}
		default:
			m = &waE2E.Message{StickerMessage: &waE2E.StickerMessage{DirectPath: recvPath("/f"), Mimetype: &mimeType, FileLength: &length}}
		}
		if cli.DangerousInternals().DispatchEvent(recvEvent(t, recvGroup, recvAlicePN, m)) {
			t.Fatal("a handler panicked")
		}
		ms := sink.messages()
		if len(ms) != 1 || len(ms[0].Attachments) != 1 {
			t.Fatalf("messages %+v", ms)
		}
		a := ms[0].Attachments[0]
		if (a.Path == "") == (a.Skipped == "") {
			t.Fatalf("attachment neither kept nor skipped, or both: %+v", a)
		}
		if a.Path != "" && (!strings.HasPrefix(a.Path, "media/") || strings.Contains(a.Path[len("media/"):], "/") || strings.HasPrefix(a.Path[len("media/"):], ".")) {
			t.Fatalf("kept at %q", a.Path)
		}
	})
}
