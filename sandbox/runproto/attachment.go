package runproto

import (
	"strconv"
	"strings"
)

// Files that came with chat messages reach the agent by name, not by value: the host stores
// each in the group's folder and names it in the prompt with an element of its own,
//
//	<attachment type="image" path="/workspace/group/media/20240102-M1.jpg" mime="image/jpeg" size="48213"/>
//
// and the runner, inside the container, reads the file it names and gives the model an
// image or document block after it. No file bytes cross the run request or the socket.
// The host escapes everything a chat member typed (the prompt's text and attributes), so a
// "<attachment" in the prompt is always the host's; the runner still treats the file as
// hostile (the agent can replace it), since it is read from a directory the agent writes.

const (
	// AttachmentElement is the element's name.
	AttachmentElement = "attachment"
	// GroupDir is where a group's folder is mounted in its container; attachment paths are
	// under it.
	GroupDir = "/workspace/group"
	// MediaDir is the folder, inside the group's folder, that received files are stored in.
	MediaDir = "media"
)

// Attachment is one attachment element: what the host says of a file.
type Attachment struct {
	Type    string // image, sticker, document, audio, voice, video
	Path    string // the file as the container sees it; "" when it was not stored
	MIME    string // as the sender declared it
	Name    string // a document's name as the sender gave it
	Size    int64
	Seconds int // audio and video length
	Width   int
	Height  int
	Skipped string // why the file is not there
	Start   int    // the element's offset in the text it was parsed from
	End     int    // the offset just after it
}

// FormatAttachment renders a as an attachment element, every attribute escaped.
func FormatAttachment(a Attachment) string {
	var b strings.Builder
	b.WriteString("<" + AttachmentElement)
	attr := func(name, v string) {
		if v == "" {
			return
		}
		b.WriteString(" " + name + `="`)
		b.WriteString(escapeAttr(v))
		b.WriteByte('"')
	}
	num := func(name string, v int64) {
		if v > 0 {
			attr(name, strconv.FormatInt(v, 10))
		}
	}
	attr("type", a.Type)
	attr("path", a.Path)
	attr("name", a.Name)
	attr("mime", a.MIME)
	num("size", a.Size)
	if a.Seconds > 0 {
		attr("duration", formatDuration(a.Seconds))
	}
	num("width", int64(a.Width))
	num("height", int64(a.Height))
	attr("skipped", a.Skipped)
	b.WriteString("/>")
	return b.String()
}

// formatDuration writes seconds as m:ss or h:mm:ss.
func formatDuration(s int) string {
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		return strconv.Itoa(h) + ":" + pad2(m) + ":" + pad2(sec)
	}
	return strconv.Itoa(m) + ":" + pad2(sec)
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// parseDuration reads formatDuration's output; 0 when it does not parse.
func parseDuration(s string) int {
	total := 0
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1<<20 {
			return 0
		}
		total = total*60 + n
	}
	return total
}

// escapeAttr escapes & < > and " as the host's prompt escaping does.
func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// unescapeAttr reverses escapeAttr (and the apostrophe entity, for good measure).
func unescapeAttr(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&quot;", `"`, "&lt;", "<", "&gt;", ">", "&apos;", "'", "&amp;", "&").Replace(s)
}

// ParseAttachments finds the attachment elements in text, in order. Anything that is not a
// well-formed element (no closing "/>", an attribute without quotes) is left alone, so
// ordinary text never becomes an attachment by accident.
func ParseAttachments(text string) []Attachment {
	var out []Attachment
	open := "<" + AttachmentElement + " "
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], open)
		if i < 0 {
			break
		}
		start := off + i
		end := strings.Index(text[start:], "/>")
		if end < 0 {
			break
		}
		end += start + 2
		a, ok := parseElement(text[start+len(open) : end-2])
		off = start + len(open)
		if !ok {
			continue
		}
		a.Start, a.End = start, end
		out = append(out, a)
		off = end
	}
	return out
}

// parseElement reads the attributes of one element (between its name and "/>").
func parseElement(s string) (Attachment, bool) {
	var a Attachment
	for {
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			return a, a.Type != ""
		}
		eq := strings.Index(s, `="`)
		if eq <= 0 || strings.ContainsAny(s[:eq], " \t\n<>\"") {
			return a, false
		}
		name := s[:eq]
		rest := s[eq+2:]
		q := strings.IndexByte(rest, '"')
		if q < 0 {
			return a, false
		}
		v := unescapeAttr(rest[:q])
		s = rest[q+1:]
		n, _ := strconv.ParseInt(v, 10, 64)
		switch name {
		case "type":
			a.Type = v
		case "path":
			a.Path = v
		case "mime":
			a.MIME = v
		case "name":
			a.Name = v
		case "size":
			a.Size = max(n, 0)
		case "duration":
			a.Seconds = parseDuration(v)
		case "width":
			a.Width = int(min(max(n, 0), 1<<30))
		case "height":
			a.Height = int(min(max(n, 0), 1<<30))
		case "skipped":
			a.Skipped = v
		}
	}
}
