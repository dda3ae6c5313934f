// Command watgen reassembles every committed .wat test fixture into the .wasm beside it
// (`go generate ./host/plugin/plugintest`), so tests never need wat2wasm; it needs Debian's
// wabt. Unchanged modules are not rewritten.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/nanoclaw/nanoclaw-go/host/plugin/plugintest"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "watgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		return fmt.Errorf("wat2wasm not found: sudo apt-get install -y wabt")
	}
	root, err := plugintest.ModuleRoot()
	if err != nil {
		return err
	}
	wats, err := plugintest.WATFixtures(root)
	if err != nil {
		return err
	}
	for _, w := range wats {
		b, err := plugintest.AssembleWAT(ctx, tool, w)
		if err != nil {
			return err
		}
		out := plugintest.WASMFor(w)
		if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := plugintest.WriteAtomic(out, b); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
		fmt.Println("watgen: wrote", out)
	}
	return nil
}
