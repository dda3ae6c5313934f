package plugintest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWATFixtures: every .wat fixture in the repository has its assembled .wasm committed
// beside it (always checked), and that .wasm is what wat2wasm makes of the .wat today
// (checked only where wat2wasm is installed: it is not needed to run the tests).
func TestWATFixtures(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wats, err := WATFixtures(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(wats) == 0 {
		t.Fatal("no .wat fixtures found: the walk is broken")
	}
	tool, lookErr := exec.LookPath("wat2wasm")
	for _, w := range wats {
		rel, _ := filepath.Rel(root, w)
		t.Run(rel, func(t *testing.T) {
			committed, err := os.ReadFile(WASMFor(w))
			if err != nil {
				t.Fatalf("no committed module: %v (run `go generate ./host/plugin/plugintest`)", err)
			}
			if lookErr != nil {
				t.Skip("wat2wasm not installed (Debian's wabt): the committed module is not compared with its source")
			}
			fresh, err := AssembleWAT(context.Background(), tool, w)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fresh, committed) {
				t.Fatalf("%s is stale: run `go generate ./host/plugin/plugintest`", WASMFor(rel))
			}
		})
	}
}
