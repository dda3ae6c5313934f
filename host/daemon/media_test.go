package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
	"github.com/nanoclaw/nanoclaw-go/host/store"
)

// countedPhoto is a photo that counts its downloads.
func countedPhoto(n *atomic.Int32, data []byte) []channel.Media {
	return []channel.Media{{Kind: "image", MIME: "image/jpeg", Size: int64(len(data)), Fetch: func(context.Context, int64) ([]byte, error) {
		n.Add(1)
		return data, nil
	}}}
}

// TestMediaMessages: a file is fetched only for a message a group's agent will see, kept in
// that group's folder, and named in the prompt by its container path; an unregistered
// chat's file is never downloaded.
func TestMediaMessages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	h.register(mainGroup)
	h.start()
	photo := []byte("\xff\xd8\xff a photo")
	var fetched atomic.Int32

	const stranger = "test:strangers"
	if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: stranger, Channel: "test", IsGroup: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.OnMediaMessage(h.ctx, msg(stranger, "s1", "[image]", 0), countedPhoto(&fetched, photo)); err != nil {
		t.Fatal(err)
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("an unregistered chat's photo was downloaded %d times", n)
	}

	if err := h.d.OnChatMetadata(h.ctx, channel.ChatMeta{JID: mainJID, Channel: "test", IsGroup: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.OnMediaMessage(h.ctx, msg(mainJID, "m1", "look", 1), countedPhoto(&fetched, photo)); err != nil {
		t.Fatal(err)
	}
	if n := fetched.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
	got, err := h.st.MessagesSince(h.ctx, mainJID, "", "", 0)
	if err != nil || len(got) != 1 || len(got[0].Attachments) != 1 {
		t.Fatalf("stored %+v, %v", got, err)
	}
	a := got[0].Attachments[0]
	want := store.Attachment{Kind: "image", MIME: "image/jpeg", Size: int64(len(photo)), Path: a.Path}
	if a != want || !strings.HasPrefix(a.Path, "media/") {
		t.Fatalf("attachment %+v", a)
	}
	if b, err := os.ReadFile(filepath.Join(h.root, "groups", "main", filepath.FromSlash(a.Path))); err != nil || !bytes.Equal(b, photo) {
		t.Fatalf("kept file %q, %v", b, err)
	}
	req := h.nextRun().request(t)
	if !strings.Contains(req.Prompt, `<attachment type="image" path="/workspace/group/`+a.Path+`"`) {
		t.Fatalf("prompt does not name the photo:\n%s", req.Prompt)
	}
}
