// Command router is the default routing plugin (kind route, order 1000): NanoClaw's trigger
// rules and sender allowlist, from package routepolicy, behind the plugin ABI. Custom routers
// run before it; it always decides, so every message gets an action.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o router.wasm ./plugins/router
package main

import (
	"errors"

	"github.com/nanoclaw/nanoclaw-go/plugins/abi"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/router/routepolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
)

// A reactor module runs package initialisers from _initialize and never calls main.
func init() { sdk.HandleRoute(routepolicy.New(&hostFacts{}).Decide) }

func main() {}

// hostFacts answers routepolicy.Facts with host functions: config (config_read,
// config_version) and log. It calls nothing else, so the module imports only those.
type hostFacts struct{ config hostcall.ConfigCache }

// Config reads the allowlist document again only when the host's version of it changes.
func (f *hostFacts) Config() (protocol.ConfigDoc, bool) {
	doc, _, err := f.config.Get()
	if err != nil && !errors.Is(err, hostcall.ErrNotFound) {
		f.Log("sender-allowlist: cannot read the config document: " + err.Error())
	}
	return doc, err == nil
}

// Log writes to the host log at info level, under the plugin's name.
func (f *hostFacts) Log(msg string) { hostcall.Log(abi.LevelInfo, msg) }

// Problem reports the state of the allowlist file to the host (config_problem), which shows
// it in `nanoclaw status`.
func (f *hostFacts) Problem(msg string) { _ = hostcall.ReportConfigProblem(msg) }
