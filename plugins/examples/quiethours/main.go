// Command quiethours is an example routing plugin to copy: during the operator's quiet hours
// messages to non-main groups are stored but do not start the agent. The policy is in
// package quiet; this file only connects it to the host. See ../README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o quiethours.wasm ./plugins/examples/quiethours
package main

import (
	"os"
	"time"
	// A wasip1 guest has no zoneinfo files, so time.LoadLocation("Europe/London") would fail:
	// embed the IANA database (about 450 KB) to get real zones with their DST rules.
	_ "time/tzdata"

	"github.com/nanoclaw/nanoclaw-go/plugins/examples/quiethours/quiet"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
)

// A reactor module runs package initialisers from _initialize and never calls main.
func init() { sdk.HandleRoute(quiet.New(&hostFacts{}).Decide) }

func main() {}

// hostFacts answers quiet.Facts with the clock and config capabilities. Every hostcall
// function it calls becomes an import the manifest must ask for: now (clock), config_read
// and config_version (config). Logging goes to stderr, which the host logs under the
// plugin's name without any capability.
type hostFacts struct{ config hostcall.ConfigCache }

// Now is the host's wall clock (WASI's clock is deliberately fake).
func (*hostFacts) Now() time.Time { return hostcall.Now() }

// Config reads the document again only when the host's version of it changes.
func (f *hostFacts) Config() (protocol.ConfigDoc, bool) {
	doc, _, err := f.config.Get()
	return doc, err == nil
}

// Log writes one line to stderr.
func (*hostFacts) Log(msg string) { _, _ = os.Stderr.WriteString(msg + "\n") }

// Problem tells the host the config file is unusable (or fine again); `nanoclaw status`
// shows it. It is part of the config capability.
func (*hostFacts) Problem(msg string) { _ = hostcall.ReportConfigProblem(msg) }
