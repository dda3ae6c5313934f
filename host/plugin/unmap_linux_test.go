package plugin

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
	"github.com/nanoclaw/nanoclaw-go/plugins/protocol"
)

// anonExecKB is the resident size of this process's anonymous executable mappings, where
// wazero keeps native code.
func anonExecKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	total, inExec := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") {
			inExec = f[1] == "r-xp" && len(f) == 5 // no path: anonymous
			continue
		}
		if inExec && len(f) >= 2 && f[0] == "Rss:" {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

// TestIdleReleaseUnmapsCode: after an idle release the Go guest's native code (~10 MB) is
// unmapped, which wazero alone would not do for the last module it closed (unpin).
func TestIdleReleaseUnmapsCode(t *testing.T) {
	l, released := idleLoader(t, plugintest.CacheDir(), 50*time.Millisecond)
	p := loadProbe(t, l, protocol.KindRoute)
	warm := anonExecKB(t)
	waitReleased(t, released)
	ReturnMemory()
	if after := anonExecKB(t); warm-after < 5<<10 {
		t.Fatalf("native code mapped: %d KiB while warm, %d KiB after release", warm, after)
	}
	if _, f := call(t, p, `{"mode":"ok"}`); f != nil {
		t.Fatalf("call after release: %v", f)
	}
}
