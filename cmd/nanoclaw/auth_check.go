package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/config"
)

// runAuthCheck answers `nanoclaw auth --check`: whether store/whatsapp.db holds a session
// with a device id (whatsapp.Paired). The file's existence says nothing, since a failed
// pairing leaves one. Exit 0 paired, 1 not, 2 when it cannot tell. `make run` decides its
// hints with it.
func runAuthCheck(ctx context.Context, e env) int {
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	jid, paired, err := whatsapp.Paired(ctx, filepath.Join(paths.Root, "store"))
	switch {
	case err != nil:
		fmt.Fprintln(e.stderr, "nanoclaw auth:", err)
		return 2
	case !paired:
		fmt.Fprintln(e.stdout, "WhatsApp is not paired: run `nanoclaw auth`")
		return 1
	}
	fmt.Fprintf(e.stdout, "WhatsApp is paired as %s\n", jid)
	return 0
}
