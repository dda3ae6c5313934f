package protocol

import "unicode/utf8"

// MaxReason bounds the reason a default plugin puts in a verdict. Reasons quote what an
// agent sent (a mount path, a message type, a JID), and a verdict over the host's 16 KiB
// cap is a fault, not a deny the agent can read: a path of control characters, six bytes
// each once JSON-escaped, did that to mountguard (found by make fuzz PLUGIN=… KIND=mount).
const MaxReason = 1024

// CapReason cuts reason to MaxReason bytes at a rune boundary and marks the cut.
func CapReason(reason string) string {
	if len(reason) <= MaxReason {
		return reason
	}
	cut := MaxReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + "…"
}
