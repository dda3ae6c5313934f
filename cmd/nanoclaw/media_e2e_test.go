package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPhotoEndToEnd: a photo sent with `nanoclaw chat` ("/file PATH caption") is kept in
// the group's folder by the host, named in the prompt by its container path, and read by
// the runner in the agent's container, so the mock model receives it as an image block.
func TestPhotoEndToEnd(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	api, url := newMockAPI(t)
	vars := hostEnv(work, url)
	stop, _ := startHost(t, work, vars)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dialChat(t, ctx, work, "local:main") // waits for the host's socket

	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 128, 255})
		}
	}
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "holiday photo.jpg")
	if err := os.WriteFile(path, photo.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var chatOut logBuffer
	if code := dispatch(ctx, []string{"chat", "--chat", "local:main", "--name", "bob", "--replies", "1"},
		env{stdin: strings.NewReader(`/file "` + path + `" what is in this photo?` + "\n"), stdout: &chatOut, stderr: &chatOut,
			getenv: func(k string) string { return vars[k] }, workdir: work}); code != 0 {
		t.Fatalf("nanoclaw chat exited %d:\n%s", code, chatOut.String())
	}
	if !strings.Contains(chatOut.String(), "reply:") {
		t.Fatalf("nanoclaw chat printed:\n%s", chatOut.String())
	}

	var req apiRequest
	for _, r := range api.requestsSoFar() {
		if strings.Contains(r.Last, "what is in this photo?") {
			req = r
		}
	}
	if req.Body == "" {
		t.Fatalf("no request carried the photo's message:\n%s", fmtRequests(api.requestsSoFar()))
	}
	if !strings.Contains(req.Last, `<attachment type="image" path="/workspace/group/media/`) {
		t.Fatalf("the prompt does not name the photo: %q", req.Last)
	}
	want := `"` + base64.StdEncoding.EncodeToString(photo.Bytes()) + `"`
	if !strings.Contains(req.Body, `"type":"image"`) || !strings.Contains(req.Body, `"media_type":"image/jpeg"`) || !strings.Contains(req.Body, want) {
		t.Fatalf("the photo did not reach the model as an image block: %.2000s", req.Body)
	}
	kept, err := filepath.Glob(filepath.Join(work, "groups", "main", "media", "*.jpg"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("kept photos %v, %v", kept, err)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || !bytes.Equal(b, photo.Bytes()) {
		t.Fatalf("the kept photo differs: %v", err)
	}
}

// requestsSoFar is every request the mock has seen.
func (m *mockAPI) requestsSoFar() []apiRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]apiRequest(nil), m.requests...)
}
