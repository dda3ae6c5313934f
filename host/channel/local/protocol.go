package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Frame types on the wire.
const (
	typeHello   = "hello"
	typeMessage = "message"
	typeAck     = "ack"
	typeError   = "error"
	typeTyping  = "typing"
	typeSaid    = "said"
	typeBye     = "bye"
	typeFile    = "file"
)

// clientFrame is one line a client sends.
type clientFrame struct {
	Type string `json:"type"`
	Chat string `json:"chat"`
	Name string `json:"name"`
	Text string `json:"text"`
	ID   string `json:"id"`
	// A file frame's file: its name (the base name is kept) and its bytes (base64 in the
	// JSON); Text is its caption.
	File string `json:"file,omitempty"`
	Data []byte `json:"data,omitempty"`
}

// hostFrame is one line the host sends; the client decodes every type into it.
type hostFrame struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	Text      string `json:"text,omitempty"`
	Error     string `json:"error,omitempty"`
	On        bool   `json:"on,omitempty"`
	Name      string `json:"name,omitempty"`      // said, message: who wrote it
	Assistant string `json:"assistant,omitempty"` // hello ack: the assistant's name
	Group     string `json:"group,omitempty"`     // hello ack: the registered group's name
}

var chatRE = regexp.MustCompile(`^local:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidChat reports whether jid is a well-formed local chat id ("local:" and a name of
// letters, digits, '.', '_' or '-', at most 64 long), so folders and logs stay tame.
func ValidChat(jid string) bool { return chatRE.MatchString(jid) }

const maxNameRunes = 64

var errBlankLine = errors.New("blank line")

// decodeClientLine parses and validates one client line. It returns errBlankLine for a
// line of only whitespace, which the server skips.
func decodeClientLine(line []byte) (clientFrame, error) {
	var f clientFrame
	if len(strings.TrimSpace(string(line))) == 0 {
		return f, errBlankLine
	}
	if err := json.Unmarshal(line, &f); err != nil {
		return f, fmt.Errorf("invalid JSON: %w", err)
	}
	switch f.Type {
	case typeHello:
		if f.Chat == "" {
			f.Chat = DefaultChat
		}
		if !ValidChat(f.Chat) {
			return f, fmt.Errorf("invalid chat %q: want local:<name> with letters, digits, '.', '_' or '-'", f.Chat)
		}
		f.Name = strings.TrimSpace(f.Name)
		if f.Name == "" {
			f.Name = defaultUser
		}
		if err := checkName(f.Name); err != nil {
			return f, err
		}
	case typeMessage:
		if strings.TrimSpace(f.Text) == "" {
			return f, errors.New("empty message")
		}
	case typeFile:
		if len(f.Data) == 0 {
			return f, errors.New("empty file")
		}
		if len(f.Data) > MaxFileBytes {
			return f, fmt.Errorf("file larger than %d bytes", MaxFileBytes)
		}
		f.File = path.Base(strings.ReplaceAll(f.File, `\`, "/"))
		if f.File == "." || f.File == "/" || f.File == ".." {
			f.File = ""
		}
	case "":
		return f, errors.New("missing type")
	default:
		return f, fmt.Errorf("unknown type %q", f.Type)
	}
	return f, nil
}

func checkName(name string) error {
	if utf8.RuneCountInString(name) > maxNameRunes {
		return fmt.Errorf("name longer than %d characters", maxNameRunes)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("invalid name %q", name)
		}
	}
	return nil
}

// encode marshals a host frame as one newline-terminated line. json.Marshal escapes
// newlines inside strings, so a frame never spans lines.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // unreachable for the frame types used here
		b = []byte(`{"type":"error","error":"internal encoding error"}`)
	}
	return append(b, '\n')
}

func ackFrame(id string) []byte {
	return encode(struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{typeAck, id})
}

func errorFrame(id, msg string) []byte {
	return encode(struct {
		Type  string `json:"type"`
		ID    string `json:"id,omitempty"`
		Error string `json:"error"`
	}{typeError, id, msg})
}

// messageFrame is the assistant's message, with its name (omitted when the host has none)
// so a client labels even what was kept for it before its hello was acked.
func messageFrame(name, text string) []byte {
	return encode(struct {
		Type string `json:"type"`
		Name string `json:"name,omitempty"`
		Text string `json:"text"`
	}{typeMessage, name, text})
}

func typingFrame(on bool) []byte {
	return encode(struct {
		Type string `json:"type"`
		On   bool   `json:"on"`
	}{typeTyping, on})
}

// helloAckFrame acks a hello with who answers in the chat, for the client's banner.
func helloAckFrame(id, assistant, group string) []byte {
	return encode(struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Assistant string `json:"assistant,omitempty"`
		Group     string `json:"group,omitempty"`
	}{typeAck, id, assistant, group})
}

func saidFrame(name, text string) []byte {
	return encode(struct {
		Type string `json:"type"`
		Name string `json:"name"`
		Text string `json:"text"`
	}{typeSaid, name, text})
}

func byeFrame(text string) []byte {
	return encode(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{typeBye, text})
}
