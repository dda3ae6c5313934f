// Command relay is an example routing plugin that delivers to another group: a message
// starting with ">>folder " is answered by that group's agent, in that group's chat. Its
// manifest grants "deliverTo": ["*"] (every group but main). See ../README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o relay.wasm ./plugins/examples/relay
package main

import (
	"github.com/nanoclaw/nanoclaw-go/plugins/examples/relay/relaypolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
)

// A reactor module runs package initialisers from _initialize and never calls main.
func init() { sdk.HandleRoute(relaypolicy.Decide) }

func main() {}
