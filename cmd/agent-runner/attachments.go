package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	anthropic "github.com/anthropics/anthropic-sdk-go"

	"github.com/nanoclaw/nanoclaw-go/sandbox/imagefit"
	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// Files that came with chat messages are named in the prompt by attachment elements
// (runproto); here, inside the container, the runner reads the ones the model can look at
// and puts them after the element that names them: photos and small stickers as image
// blocks, PDFs as document blocks. Everything else (voice notes, videos, other documents)
// stays a path the agent opens with its tools. The files are in the group's folder, which
// the agent writes: each is read as hostile input (a regular file, within a size cap,
// decoded in full), and one that cannot be used becomes a line saying why.
const (
	// maxImageRead is the largest image file read at all; the host's default per-file cap
	// is 25 MB, and a photo past this one is no photo.
	maxImageRead = 32 << 20
	// maxStickerBytes is how small a sticker must be to be shown as an image.
	maxStickerBytes = 1 << 20
	// maxPDFBytes keeps a PDF's base64 well inside the API's 32 MB request.
	maxPDFBytes = 20 << 20
	// maxShownPerTurn bounds the images and documents one user turn carries (the API takes
	// 100 images a request; a burst of photos should not fill the context at once).
	maxShownPerTurn = 20
)

// attachmentReader reads attached files from the group's folder.
type attachmentReader struct {
	groupDir string // where runproto.GroupDir is, for this runner (tests use a temp dir)
	logf     func(string, ...any)
	// shown are the blocks made from files, by the hash of their data, so the session file
	// can keep them by reference (mediarefs.go); nil keeps no record.
	shown map[string]fileRef
}

// userBlocks makes a user turn's content from its text: the text, cut after each
// attachment element that names a file the model can see, with that file's block (or a
// note why it is not shown) placed there.
func (r attachmentReader) userBlocks(text string) []anthropic.BetaContentBlockParamUnion {
	atts := runproto.ParseAttachments(text)
	var out []anthropic.BetaContentBlockParamUnion
	prev, shown := 0, 0
	for _, a := range atts {
		if a.Path == "" || a.Skipped != "" {
			continue
		}
		block, note, ok := r.block(a, shown)
		if !ok {
			continue
		}
		chunk := text[prev:a.End]
		if note != "" {
			chunk += "\n" + note
		}
		out = append(out, anthropic.NewBetaTextBlock(chunk))
		prev = a.End
		if block != nil {
			out = append(out, *block)
			shown++
		}
	}
	if rest := text[prev:]; len(out) == 0 || strings.TrimSpace(rest) != "" {
		out = append(out, anthropic.NewBetaTextBlock(rest))
	}
	return out
}

// block is what a shows the model: a content block, a note for the model, or both. ok is
// false when the attachment is left as its path (audio, video, a document that is not a
// PDF).
func (r attachmentReader) block(a runproto.Attachment, shown int) (block *anthropic.BetaContentBlockParamUnion, note string, ok bool) {
	kind := ""
	switch {
	case a.Type == "image":
		kind = "image"
	case a.Type == "sticker":
		kind = "sticker"
	case a.Type == "document" && (isPDFType(a.MIME) || strings.EqualFold(path.Ext(a.Path), ".pdf")):
		kind = "pdf"
	default:
		return nil, "", false
	}
	notShown := func(why string) (*anthropic.BetaContentBlockParamUnion, string, bool) {
		r.logf("attachment %s not shown: %s", a.Path, why)
		return nil, fmt.Sprintf("[The %s %s is not shown to you: %s.]", describe(kind), a.Path, why), true
	}
	if shown >= maxShownPerTurn {
		return notShown(fmt.Sprintf("only %d files are shown per message batch; open it with your tools if you need it", maxShownPerTurn))
	}
	limit := int64(maxImageRead)
	switch kind {
	case "sticker":
		limit = maxStickerBytes
	case "pdf":
		limit = maxPDFBytes
	}
	data, err := r.read(a.Path, limit)
	if err != nil {
		return notShown(err.Error())
	}
	if kind == "pdf" {
		if !bytes.HasPrefix(data, []byte("%PDF-")) {
			return notShown("it is not a PDF file")
		}
		enc := base64.StdEncoding.EncodeToString(data)
		doc := anthropic.NewBetaDocumentBlock(anthropic.BetaBase64PDFSourceParam{Data: enc})
		if a.Name != "" {
			doc.OfDocument.Title = anthropic.String(a.Name)
		}
		r.remember(fileRef{Path: a.Path, Kind: kind, Title: a.Name}, enc)
		return &doc, "", true
	}
	fit, err := imagefit.Fit(data, imagefit.Default)
	if err != nil {
		return notShown(strings.TrimPrefix(err.Error(), "imagefit: "))
	}
	enc := base64.StdEncoding.EncodeToString(fit.Data)
	img := anthropic.NewBetaImageBlock(anthropic.BetaBase64ImageSourceParam{
		Data: enc, MediaType: anthropic.BetaBase64ImageSourceMediaType(fit.MediaType)})
	r.remember(fileRef{Path: a.Path, Kind: kind}, enc)
	if fit.Resized {
		note = fmt.Sprintf("[The %s %s is shown to you scaled to %d×%d; the file itself is unchanged.]", describe(kind), a.Path, fit.Width, fit.Height)
	}
	return &img, note, true
}

func describe(kind string) string {
	switch kind {
	case "pdf":
		return "PDF"
	case "sticker":
		return "sticker"
	}
	return "image"
}

func isPDFType(m string) bool {
	m, _, _ = strings.Cut(m, ";")
	return strings.EqualFold(strings.TrimSpace(m), "application/pdf")
}

// errOutside is a path that is not in the group's folder.
var errOutside = errors.New("it is not a file in the group's folder")

// read reads the attached file at p (a container path under runproto.GroupDir): a regular
// file, opened without following a link at its name or blocking on a FIFO, of at most
// limit bytes.
func (r attachmentReader) read(p string, limit int64) ([]byte, error) {
	clean := path.Clean(p)
	rel, ok := strings.CutPrefix(clean, runproto.GroupDir+"/")
	if !ok || rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return nil, errOutside
	}
	f, err := os.OpenFile(filepath.Join(r.groupDir, filepath.FromSlash(rel)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("the file is no longer there")
		}
		return nil, errors.New("the file cannot be opened")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("it is not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("it is larger than %d MB", limit>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errors.New("the file cannot be read")
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("it is larger than %d MB", limit>>20)
	}
	return data, nil
}

// droppedMedia replaces an image or PDF the model API refused.
const droppedMedia = "[An image or document here could not be read by the model API and was removed.]"

// refusesMedia tells whether err is the API refusing an image or document it was sent
// (unreadable, too large), as opposed to any other bad request.
func refusesMedia(err error) bool {
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(apiErr.RawJSON())
	for _, s := range []string{"could not process image", "image exceeds", "image.source", "invalid image", "image format",
		"document.source", "could not process pdf", "pdf", "unsupported image"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// hasMedia reports whether any user turn of msgs holds an image or document block.
func hasMedia(msgs []anthropic.BetaMessageParam) bool {
	for _, m := range msgs {
		for _, b := range m.Content {
			if b.OfImage != nil || b.OfDocument != nil {
				return true
			}
		}
	}
	return false
}

// dropMedia is msgs with every image and document block replaced by a note. msgs is not
// modified.
func dropMedia(msgs []anthropic.BetaMessageParam) []anthropic.BetaMessageParam {
	out := append([]anthropic.BetaMessageParam(nil), msgs...)
	for i, m := range out {
		var content []anthropic.BetaContentBlockParamUnion
		for j, b := range m.Content {
			if b.OfImage == nil && b.OfDocument == nil {
				continue
			}
			if content == nil {
				content = append([]anthropic.BetaContentBlockParamUnion(nil), m.Content...)
			}
			content[j] = anthropic.NewBetaTextBlock(droppedMedia)
		}
		if content != nil {
			m.Content = content
			out[i] = m
		}
	}
	return out
}
