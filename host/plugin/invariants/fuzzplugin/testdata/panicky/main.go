// Command panicky is a route plugin with a bug for fuzzplugin's tests: it panics on a
// message longer than the "@ANDY!" seed that has a '!' in it, which the fuzzer finds in
// seconds, and otherwise makes no decision. While the fuzzer minimizes such an input, many
// calls in a row panic: enough to trip a plugin's circuit breaker, which is how an earlier
// fuzz report came to blame "circuit breaker open" on an input that never panicked.
package main

import (
	"strings"

	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
	"github.com/nanoclaw/nanoclaw-go/plugins/sdk"
)

func init() {
	sdk.HandleRoute(func(r *protocol.RouteRequest) protocol.RouteVerdict {
		if c := r.Message.Content; strings.Contains(c, "!") && len(c) > len("@ANDY!") {
			panic("panicky: a '!' in a long message")
		}
		return protocol.RouteVerdict{}
	})
}

func main() {}
