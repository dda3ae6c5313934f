package protocol

import "github.com/nanoclaw/nanoclaw-go/plugins/wire"

// ConfigDoc is what the config capability (config_read) returns: the operator's file for the
// plugin's manifest "config" name, passed through untouched so the plugin, not the host,
// decides what a malformed file means, plus facts the host knows about its own layout.
type ConfigDoc struct {
	Name    string // the manifest's config name, e.g. "mount-allowlist"
	Path    string // where the host read it from
	Exists  bool   // false: no such file (Content is empty)
	Content []byte // the file's bytes as read (not necessarily valid JSON)
	Error   string // the host could not read the file (permissions, ...); Content is empty
	// ProtectedPaths must never be mounted into a container, nor any directory containing
	// them: the nanoclaw config directory, the WhatsApp store, the plugin compile cache.
	ProtectedPaths []string
}

// AppendJSON appends the document's JSON encoding to dst.
func (d *ConfigDoc) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.String("name", d.Name)
	w.String("path", d.Path)
	w.Bool("exists", d.Exists)
	w.Bytes("content", d.Content)
	w.String("error", d.Error)
	w.Strings("protectedPaths", d.ProtectedPaths)
	return w.End()
}

// UnmarshalJSON decodes a document, copying what it keeps.
func (d *ConfigDoc) UnmarshalJSON(data []byte) error {
	dc := newDecoder(data, false)
	*d = ConfigDoc{}
	fields(&dc, func(k []byte) {
		switch string(k) {
		case "name":
			d.Name = dc.String()
		case "path":
			d.Path = dc.String()
		case "exists":
			d.Exists = dc.Bool()
		case "content":
			d.Content = []byte(dc.String())
		case "error":
			d.Error = dc.String()
		case "protectedPaths":
			raw := dc.Skip()
			v, err := wire.Parse(raw)
			if err != nil || v.Kind != wire.Array {
				return
			}
			v.EachElem(func(e wire.Value) bool {
				if s, ok := e.Str(); ok {
					d.ProtectedPaths = append(d.ProtectedPaths, s)
				}
				return true
			})
		default:
			dc.Skip()
		}
	})
	return finish(&dc, "config document")
}
