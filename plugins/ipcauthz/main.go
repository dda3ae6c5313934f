// Command ipcauthz is the default IPC authorization plugin: ipcpolicy behind the SDK, with
// registered groups answered by the host's groups capability.
package main

import (
	"github.com/nanoclaw/nanoclaw-go/plugins/ipcauthz/ipcpolicy"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk/hostcall"
)

type facts struct{}

func (facts) LookupGroup(jid string) (protocol.Group, bool) {
	b, err := hostcall.LookupGroup(jid)
	if err != nil {
		return protocol.Group{}, false
	}
	var g protocol.Group
	if g.DecodeAliased(b) != nil {
		return protocol.Group{}, false
	}
	return g, true
}

func init() {
	sdk.HandleIPC(ipcpolicy.New(facts{}).Decide)
}

func main() {}
