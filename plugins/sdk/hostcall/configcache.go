package hostcall

import (
	"errors"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// ConfigCache holds the plugin's configuration document between calls and reads it again
// only when the host's config version changes, so a plugin decodes its configuration once
// per change rather than once per decision. Capability: config.
type ConfigCache struct {
	read    bool
	version int64
	doc     protocol.ConfigDoc
	err     error
}

// Get returns the current document and its version. The error is ErrNotFound when the host
// has no document for this plugin, another error when it could not be read or decoded (then
// it is asked again on the next call rather than cached).
func (c *ConfigCache) Get() (protocol.ConfigDoc, int64, error) {
	v := ConfigVersion()
	if c.read && v == c.version {
		return c.doc, c.version, c.err
	}
	raw, err := Config()
	var doc protocol.ConfigDoc
	if err == nil {
		err = doc.UnmarshalJSON(raw)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return protocol.ConfigDoc{}, v, err
	}
	c.read, c.version, c.doc, c.err = true, v, doc, err
	return doc, v, err
}
