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

// facts answers mountpolicy through host functions.
type facts struct{ config hostcall.ConfigCache }

func (f *facts) Resolve(p string) (string, error) { return hostcall.ResolvePath(p) }

func (f *facts) Log(msg string) { hostcall.Log(abi.LevelError, msg) }

// Problem reports the state of the allowlist file to the host (config_problem), which shows
// it in `nanoclaw status`.
func (f *facts) Problem(msg string) { _ = hostcall.ReportConfigProblem(msg) }

func (f *facts) Config() (protocol.ConfigDoc, int64, bool) {
	doc, v, err := f.config.Get()
	return doc, v, err == nil
}

func init() {
	g := mountpolicy.New(&facts{})
	sdk.HandleMount(g.Decide)
}

func main() {}
