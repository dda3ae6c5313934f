package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
)

// TestAuthCheck: `nanoclaw auth --check` (what `make run` asks) exits 0 only for a session
// with a device id; no file, and the file a failed pairing leaves, exit 1; it never creates
// the file.
func TestAuthCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, storeDir string)
		code    int
		out     string
	}{
		{"no store", func(*testing.T, string) {}, 1, "not paired: run `nanoclaw auth`"},
		{"failed pairing left the file", func(t *testing.T, dir string) {
			c, err := whatsapp.OpenStore(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.NewDevice() // auth's device while the QR code showed; never stored
			c.Close()
		}, 1, "not paired"},
		{"paired", func(t *testing.T, dir string) {
			c, err := whatsapp.OpenStore(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dev := c.NewDevice()
			jid := types.NewJID("15551234567", types.DefaultUserServer)
			jid.Device = 3
			dev.ID = &jid
			dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
			if err := c.PutDevice(ctx, dev); err != nil {
				t.Fatal(err)
			}
		}, 0, "paired as 15551234567"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config")}
			storeDir := filepath.Join(work, "store")
			if err := os.MkdirAll(storeDir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, storeDir)
			_, existed := os.Stat(filepath.Join(storeDir, whatsapp.StoreFile))
			out, code := cli(t, work, vars, "auth", "--check")
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("auth --check: exit %d, want %d:\n%s", code, tc.code, out)
			}
			if _, err := os.Stat(filepath.Join(storeDir, whatsapp.StoreFile)); (err == nil) != (existed == nil) {
				t.Fatalf("auth --check changed whether whatsapp.db exists: before %v, after %v", existed, err)
			}
		})
	}
}
