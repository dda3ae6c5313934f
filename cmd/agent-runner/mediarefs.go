package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/imagefit"
)

// The session file keeps the conversation the API saw, but an image or PDF shown from a
// file is written there by reference, not as its base64: the file is already in the group's
// folder, and a conversation with a few photos would otherwise make a session file of many
// megabytes that is rewritten after every turn. When the session is loaded, each reference
// is read back from its file and checked against the hash of what the model saw; a file
// that is gone or changed becomes a line saying so. The requests themselves are unchanged,
// so the prompt cache is not disturbed.

// fileRefPrefix starts a text block that stands for a file's block in the session file. A
// user turn's text is the host's prompt (starting with its own markup) or the runner's
// notes, so no text from the chat can start with it.
const fileRefPrefix = "\x00nanoclaw-file-ref:"

// fileRef is what the session file keeps of a block shown from a file.
type fileRef struct {
	Path  string `json:"path"` // the container path the attachment named
	Kind  string `json:"kind"` // image, sticker or pdf
	Title string `json:"title,omitempty"`
	SHA   string `json:"sha256"` // of the block's base64 data
}

// dataHash is the hex sha256 of a block's base64 data.
func dataHash(data string) string {
	h := sha256.Sum256([]byte(data))
	return hex.EncodeToString(h[:])
}

// remember records that block was made from the file ref names.
func (r attachmentReader) remember(ref fileRef, data string) {
	if r.shown == nil {
		return
	}
	ref.SHA = dataHash(data)
	r.shown[ref.SHA] = ref
}

// withRefs is msgs as the session file keeps them: every image or PDF block this runner
// made from a file replaced by its reference. msgs is not modified.
func (r attachmentReader) withRefs(msgs []anthropic.BetaMessageParam) []anthropic.BetaMessageParam {
	if len(r.shown) == 0 {
		return msgs
	}
	out := msgs
	copied := false
	for i, m := range msgs {
		var content []anthropic.BetaContentBlockParamUnion
		for j, b := range m.Content {
			ref, ok := r.refOf(b)
			if !ok {
				continue
			}
			if content == nil {
				content = append([]anthropic.BetaContentBlockParamUnion(nil), m.Content...)
			}
			enc, _ := json.Marshal(ref)
			content[j] = anthropic.NewBetaTextBlock(fileRefPrefix + string(enc))
		}
		if content == nil {
			continue
		}
		if !copied {
			out = append([]anthropic.BetaMessageParam(nil), msgs...)
			copied = true
		}
		m.Content = content
		out[i] = m
	}
	return out
}

// refOf finds the reference of a block this runner made from a file.
func (r attachmentReader) refOf(b anthropic.BetaContentBlockParamUnion) (fileRef, bool) {
	var data string
	switch {
	case b.OfImage != nil && b.OfImage.Source.OfBase64 != nil:
		data = b.OfImage.Source.OfBase64.Data
	case b.OfDocument != nil && b.OfDocument.Source.OfBase64 != nil:
		data = b.OfDocument.Source.OfBase64.Data
	default:
		return fileRef{}, false
	}
	ref, ok := r.shown[dataHash(data)]
	return ref, ok
}

// expandRefs puts back, in a loaded session, the blocks its references stand for: each file
// is read and made into a block again as when it was first shown, and used only if it is
// what the model saw (the same hash); otherwise a line says the file is no longer there.
func (r attachmentReader) expandRefs(msgs []anthropic.BetaMessageParam) []anthropic.BetaMessageParam {
	for i, m := range msgs {
		var content []anthropic.BetaContentBlockParamUnion
		for j, b := range m.Content {
			if b.OfText == nil || !strings.HasPrefix(b.OfText.Text, fileRefPrefix) {
				continue
			}
			if content == nil {
				content = append([]anthropic.BetaContentBlockParamUnion(nil), m.Content...)
			}
			content[j] = r.expand(strings.TrimPrefix(b.OfText.Text, fileRefPrefix))
		}
		if content != nil {
			m.Content = content
			msgs[i] = m
		}
	}
	return msgs
}

// expand makes the block one reference stands for, or a note.
func (r attachmentReader) expand(enc string) anthropic.BetaContentBlockParamUnion {
	var ref fileRef
	if err := json.Unmarshal([]byte(enc), &ref); err != nil || ref.Path == "" {
		return anthropic.NewBetaTextBlock("[A file shown earlier in this conversation is no longer available.]")
	}
	gone := func(why string) anthropic.BetaContentBlockParamUnion {
		r.logf("session: %s shown earlier is not restored: %s", ref.Path, why)
		return anthropic.NewBetaTextBlock(fmt.Sprintf("[The %s %s, shown earlier, is no longer available: %s.]", describe(ref.Kind), ref.Path, why))
	}
	limit := int64(maxImageRead)
	switch ref.Kind {
	case "sticker":
		limit = maxStickerBytes
	case "pdf":
		limit = maxPDFBytes
	}
	raw, err := r.read(ref.Path, limit)
	if err != nil {
		return gone(err.Error())
	}
	var block anthropic.BetaContentBlockParamUnion
	var data string
	if ref.Kind == "pdf" {
		data = base64.StdEncoding.EncodeToString(raw)
		block = anthropic.NewBetaDocumentBlock(anthropic.BetaBase64PDFSourceParam{Data: data})
		if ref.Title != "" {
			block.OfDocument.Title = anthropic.String(ref.Title)
		}
	} else {
		fit, err := imagefit.Fit(raw, imagefit.Default)
		if err != nil {
			return gone(err.Error())
		}
		data = base64.StdEncoding.EncodeToString(fit.Data)
		block = anthropic.NewBetaImageBlock(anthropic.BetaBase64ImageSourceParam{Data: data,
			MediaType: anthropic.BetaBase64ImageSourceMediaType(fit.MediaType)})
	}
	if dataHash(data) != ref.SHA {
		return gone("the file has changed since")
	}
	r.remember(ref, data)
	return block
}
