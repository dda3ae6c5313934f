// Command mountguard is the default mount policy plugin: mountpolicy behind the SDK, with
// path resolution and the allowlist answered by the host's path and config capabilities.
package main

import (
	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/mountguard/mountpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
)

// facts answers mountpolicy through host functions; the document is re-read only when the
// host's config version changes.
type facts struct {
	version int64
	read    bool
	doc     protocol.ConfigDoc
	ok      bool
}

func (f *facts) Resolve(p string) (string, error) { return hostcall.ResolvePath(p) }

func (f *facts) Log(msg string) { hostcall.Log(abi.LevelError, msg) }

func (f *facts) Config() (protocol.ConfigDoc, int64, bool) {
	v := hostcall.ConfigVersion()
	if !f.read || v != f.version {
		f.read, f.version = true, v
		raw, err := hostcall.Config()
		f.ok = err == nil && f.doc.UnmarshalJSON(raw) == nil
	}
	return f.doc, f.version, f.ok
}

func init() {
	g := mountpolicy.New(&facts{})
	sdk.HandleMount(g.Decide)
}

func main() {}
