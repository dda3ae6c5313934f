package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// testJPEG is a w×h JPEG with some detail.
func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// element is the host's attachment element for a file in the group's media folder.
func element(typ, name string, extra ...string) string {
	a := runproto.Attachment{Type: typ, Path: runproto.GroupDir + "/media/" + name}
	for i := 0; i+1 < len(extra); i += 2 {
		switch extra[i] {
		case "mime":
			a.MIME = extra[i+1]
		case "name":
			a.Name = extra[i+1]
		case "skipped":
			a.Path, a.Skipped = "", extra[i+1]
		case "path":
			a.Path = extra[i+1]
		}
	}
	return runproto.FormatAttachment(a)
}

// blockSummary describes content blocks compactly: "text:<text>", "image:<media type>",
// "document:<title>".
func blockSummary(t testing.TB, blocks []anthropic.BetaContentBlockParamUnion) []string {
	t.Helper()
	var out []string
	for _, b := range blocks {
		switch {
		case b.OfText != nil:
			out = append(out, "text:"+b.OfText.Text)
		case b.OfImage != nil:
			src := b.OfImage.Source.OfBase64
			if _, err := base64.StdEncoding.DecodeString(src.Data); err != nil {
				t.Fatalf("image data is not base64: %v", err)
			}
			out = append(out, "image:"+string(src.MediaType))
		case b.OfDocument != nil:
			out = append(out, "document:"+b.OfDocument.Title.Value)
		default:
			out = append(out, "other")
		}
	}
	return out
}

// TestAttachmentBlocks: which attachments the model sees, as what, where in the turn, and
// every way a file can fail to be shown.
func TestAttachmentBlocks(t *testing.T) {
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	photo := testJPEG(t, 64, 48)
	files := map[string][]byte{
		"photo.jpg":   photo,
		"large.jpg":   testJPEG(t, 2400, 1200),
		"broken.jpg":  photo[:len(photo)/2],
		"report.pdf":  []byte("%PDF-1.4\n%fake but enough\n"),
		"fake.pdf":    []byte("not a pdf"),
		"notes.txt":   []byte("plain notes"),
		"voice.ogg":   []byte("OggS"),
		"sticker.jpg": photo,
		"big-sticker": append(testJPEG(t, 16, 16), make([]byte, maxStickerBytes)...),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(media, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(media, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(media, "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := attachmentReader{groupDir: dir, logf: t.Logf}
	head := "<messages>\n<message sender=\"Alice\">look\n"
	tail := "</message>\n</messages>"
	tests := []struct {
		name string
		el   string
		want []string // after the head text; "" in a text entry means "the element itself"
		note string   // a text note expected after the element
	}{
		{name: "photo: an image block after its element", el: element("image", "photo.jpg", "mime", "image/jpeg"),
			want: []string{"text:", "image:image/jpeg", "text:" + tail}},
		{name: "large photo: scaled, and the model is told", el: element("image", "large.jpg"),
			want: []string{"text:", "image:image/jpeg", "text:" + tail}, note: "scaled to 1516×758"},
		{name: "corrupt photo: a note instead", el: element("image", "broken.jpg"),
			want: []string{"text:", "text:" + tail}, note: "is not shown to you: the image is corrupt or truncated"},
		{name: "missing file", el: element("image", "gone.jpg"),
			want: []string{"text:", "text:" + tail}, note: "no longer there"},
		{name: "a link the agent made is not followed", el: element("image", "link.jpg"),
			want: []string{"text:", "text:" + tail}, note: "cannot be opened"},
		{name: "a FIFO does not block", el: element("image", "fifo.jpg"),
			want: []string{"text:", "text:" + tail}, note: "not a regular file"},
		{name: "outside the group folder", el: element("image", "", "path", "/etc/passwd"),
			want: []string{"text:", "text:" + tail}, note: "not a file in the group's folder"},
		{name: "climbing out of the group folder", el: element("image", "../../../etc/passwd"),
			want: []string{"text:", "text:" + tail}, note: "not a file in the group's folder"},
		{name: "PDF: a document block titled with its name", el: element("document", "report.pdf", "mime", "application/pdf", "name", "Q3.pdf"),
			want: []string{"text:", "document:Q3.pdf", "text:" + tail}},
		{name: "a .pdf that is no PDF", el: element("document", "fake.pdf"),
			want: []string{"text:", "text:" + tail}, note: "not a PDF file"},
		{name: "other documents stay a path", el: element("document", "notes.txt", "mime", "text/plain"),
			want: []string{"text:" + tail}},
		{name: "voice notes stay a path", el: element("voice", "voice.ogg"),
			want: []string{"text:" + tail}},
		{name: "small sticker: an image", el: element("sticker", "sticker.jpg"),
			want: []string{"text:", "image:image/jpeg", "text:" + tail}},
		{name: "large sticker: a note", el: element("sticker", "big-sticker"),
			want: []string{"text:", "text:" + tail}, note: "larger than 1 MB"},
		{name: "skipped by the host: the element says so, nothing to read", el: element("image", "x", "skipped", "over the cap"),
			want: []string{"text:" + tail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := head + tt.el + tail
			got := blockSummary(t, r.userBlocks(text))
			want := append([]string(nil), tt.want...)
			for i, w := range want {
				if w == "text:" {
					want[i] = "text:" + head + tt.el
				}
			}
			if len(want) == 1 {
				want[0] = "text:" + text
			}
			if tt.note != "" {
				if len(got) < 1 || !strings.Contains(got[0], tt.note) {
					t.Fatalf("no note %q in %q", tt.note, got)
				}
				got[0] = got[0][:strings.Index(got[0], "\n[")]
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("blocks\n %q\nwant\n %q", got, want)
			}
		})
	}
}

// TestAttachmentBlocksCap: a burst of photos shows the first maxShownPerTurn; the rest are
// named with a note.
func TestAttachmentBlocksCap(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		t.Fatal(err)
	}
	photo := testJPEG(t, 8, 8)
	var text strings.Builder
	for i := 0; i < maxShownPerTurn+2; i++ {
		name := fmt.Sprintf("p%d.jpg", i)
		if err := os.WriteFile(filepath.Join(dir, "media", name), photo, 0o644); err != nil {
			t.Fatal(err)
		}
		text.WriteString(element("image", name) + "\n")
	}
	got := blockSummary(t, attachmentReader{groupDir: dir, logf: t.Logf}.userBlocks(text.String()))
	images := strings.Count(strings.Join(got, "|"), "image:image/jpeg")
	if images != maxShownPerTurn || !strings.Contains(strings.Join(got, "|"), "only 20 files are shown") {
		t.Fatalf("%d images, blocks %q", images, got)
	}
}

// TestAttachmentReachesModel: a photo named in the prompt, and one in a follow-up, reach
// the Messages API as image blocks right after their elements.
func TestAttachmentReachesModel(t *testing.T) {
	api := &mockAPI{}
	h := newHarness(t, api)
	photo := testJPEG(t, 32, 32)
	if err := os.MkdirAll(h.path("group/media"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.jpg", "b.jpg"} {
		if err := os.WriteFile(h.path("group/media/"+n), photo, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	api.script = func(n int, body map[string]any) (int, string) {
		if n == 0 {
			h.run.Push("<message>and this " + element("image", "b.jpg") + "</message>")
		}
		return textResp(fmt.Sprintf("reply %d", n))
	}
	req := baseRequest()
	req.Prompt = "<message>look " + element("image", "a.jpg") + "</message>"
	h.start(req)
	h.next()
	h.next()
	h.dropClose()
	if code := h.exitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	reqs := api.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := base64.StdEncoding.EncodeToString(photo)
	for i, wantImages := range []int{1, 2} {
		msgs, _ := reqs[i]["messages"].([]any)
		var kinds []string
		images := 0
		for _, x := range msgs {
			m := x.(map[string]any)
			if m["role"] != "user" {
				continue
			}
			for _, y := range m["content"].([]any) {
				b := y.(map[string]any)
				kinds = append(kinds, b["type"].(string))
				if b["type"] == "image" {
					src := b["source"].(map[string]any)
					if src["type"] != "base64" || src["media_type"] != "image/jpeg" || src["data"] != want {
						raw, _ := json.Marshal(src)
						t.Fatalf("image source %.200s", raw)
					}
					images++
				}
			}
		}
		if images != wantImages {
			t.Fatalf("request %d: %d images in user turns %v, want %d", i, images, kinds, wantImages)
		}
	}
}

// FuzzAttachmentBlocks: whatever the prompt and the file hold, the turn is built without a
// panic, keeps all of the prompt's text in order, and every image it carries decodes.
func FuzzAttachmentBlocks(f *testing.F) {
	f.Add("look "+element("image", "f"), testJPEG(f, 4, 4))
	f.Add(element("document", "f", "mime", "application/pdf"), []byte("%PDF-1.7"))
	f.Add("<attachment type=\"image\" path=\"/workspace/group/f\"", []byte{0xff, 0xd8})
	f.Add(element("sticker", "f")+element("image", "f"), []byte("GIF89a"))
	f.Fuzz(func(t *testing.T, text string, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "media", "f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		blocks := attachmentReader{groupDir: dir, logf: func(string, ...any) {}}.userBlocks(text)
		var joined strings.Builder
		for _, b := range blocks {
			switch {
			case b.OfText != nil:
				s := b.OfText.Text
				if i := strings.LastIndex(s, "\n[The "); i >= 0 && strings.HasSuffix(s, ".]") {
					s = s[:i]
				}
				joined.WriteString(s)
			case b.OfImage != nil:
				raw, err := base64.StdEncoding.DecodeString(b.OfImage.Source.OfBase64.Data)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := image.Decode(bytes.NewReader(raw)); err != nil {
					t.Fatalf("an image block that does not decode: %v", err)
				}
			}
		}
		// Only white space after the last file may be dropped (the API refuses blank text).
		if j := joined.String(); !strings.HasPrefix(text, j) || strings.TrimSpace(text[len(j):]) != "" {
			t.Fatalf("the prompt's text changed:\n%q\nbecame\n%q", text, joined.String())
		}
	})
}

// TestImageTokens: the context gauge counts an image by what the model pays for it, not by
// its base64 text.
func TestImageTokens(t *testing.T) {
	data := base64.StdEncoding.EncodeToString(make([]byte, 3<<20))
	m := anthropic.NewBetaUserMessage(anthropic.NewBetaTextBlock("look"),
		anthropic.NewBetaImageBlock(anthropic.BetaBase64ImageSourceParam{Data: data, MediaType: "image/jpeg"}))
	if n := messageTokens(m); n < imageTokens || n > imageTokens+100 {
		t.Fatalf("a 3 MB image counted as %d tokens", n)
	}
}

// TestSessionKeepsFilesByReference: the session file holds a reference, not the photo's
// base64; a resumed conversation shows the model the same image again, or, when the file
// changed since, a line saying so.
func TestSessionKeepsFilesByReference(t *testing.T) {
	api := &mockAPI{script: func(n int, body map[string]any) (int, string) { return textResp(fmt.Sprintf("answer %d", n)) }}
	h := newHarness(t, api)
	photo := testJPEG(t, 32, 32)
	if err := os.MkdirAll(h.path("group/media"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("group/media/a.jpg"), photo, 0o644); err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(photo)
	req := baseRequest()
	req.Prompt = "<message>look " + element("image", "a.jpg") + "</message>"
	h.start(req)
	o := h.next()
	h.dropClose()
	h.exitCode()

	files, _ := filepath.Glob(filepath.Join(h.home, ".nanoclaw", "sessions", "*.json"))
	if len(files) != 1 {
		t.Fatalf("session files %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(enc)) || !bytes.Contains(raw, []byte(`nanoclaw-file-ref:`)) {
		t.Fatalf("the session file keeps the photo's bytes or no reference: %.600s", raw)
	}

	resume := func(prompt string) string {
		req := baseRequest()
		req.Prompt, req.SessionID = prompt, o.NewSessionID
		h.start(req)
		h.next()
		h.dropClose()
		h.exitCode()
		reqs := api.requests()
		b, _ := json.Marshal(reqs[len(reqs)-1])
		return string(b)
	}
	if body := resume("again"); !strings.Contains(body, enc) {
		t.Fatalf("the resumed conversation lacks the photo: %.800s", body)
	}
	if err := os.WriteFile(h.path("group/media/a.jpg"), testJPEG(t, 16, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	body := resume("and again")
	if strings.Contains(body, enc) || !strings.Contains(body, "is no longer available: the file has changed since") || strings.Contains(body, `nanoclaw-file-ref`) {
		t.Fatalf("a changed file: %.1500s", body)
	}
}

// TestRefusedImageIsDropped: an image the model API refuses is replaced by a note and the
// turn is sent again, so one bad file never fails the conversation.
func TestRefusedImageIsDropped(t *testing.T) {
	api := &mockAPI{}
	api.script = func(n int, body map[string]any) (int, string) {
		raw, _ := json.Marshal(body)
		if strings.Contains(string(raw), `"type":"image"`) {
			return http.StatusBadRequest, `{"type":"error","error":{"type":"invalid_request_error","message":"messages.0.content.1.image.source.base64.data: Could not process image"}}`
		}
		return textResp("fine")
	}
	h := newHarness(t, api)
	if err := os.MkdirAll(h.path("group/media"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("group/media/a.jpg"), testJPEG(t, 8, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	req := baseRequest()
	req.Prompt = "<message>look " + element("image", "a.jpg") + "</message>"
	h.start(req)
	o := h.next()
	if o.Status != "success" || o.Result == nil || *o.Result != "fine" {
		t.Fatalf("output %+v", o)
	}
	reqs := api.requests()
	if len(reqs) != 2 || !strings.Contains(strings.Join(userTexts(reqs[1]), "\n"), droppedMedia) {
		t.Fatalf("%d requests; the second's user texts %q", len(reqs), userTexts(reqs[len(reqs)-1]))
	}
	h.dropClose()
	h.exitCode()
}
