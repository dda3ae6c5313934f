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

// TestAuthRefusesWhenPaired: with a session in store/whatsapp.db, `nanoclaw auth` refuses
// clearly and points at --force; bad flags are usage errors. (Pairing itself needs
// WhatsApp's servers, which tests cannot reach.)
func TestAuthRefusesWhenPaired(t *testing.T) {
	work := t.TempDir()
	vars := map[string]string{"NANOCLAW_CONFIG_DIR": filepath.Join(work, "config")}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"pairing code without phone", []string{"auth", "--pairing-code"}, 2, "--phone"},
		{"bad phone", []string{"auth", "--pairing-code", "--phone", "555-1234"}, 2, "--phone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, work, vars, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
		})
	}
	ctx := context.Background()
	storeDir := filepath.Join(work, "store")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := whatsapp.OpenStore(ctx, storeDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := c.NewDevice()
	jid := types.NewJID("15551234567", types.DefaultUserServer)
	jid.Device = 3
	dev.ID = &jid
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)} // what pairing fills in
	if err := c.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	saved, err := c.GetFirstDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lid := types.NewJID("987654321", types.HiddenUserServer)
	if err := saved.LIDs.PutLIDMapping(ctx, lid, types.NewJID("15559876543", types.DefaultUserServer)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	// A chat given by its LID is registered under its phone number, as messages are filed.
	if out, code := cli(t, work, vars, "groups", "add", "--jid", "987654321@lid", "--folder", "bob"); code != 0 || !strings.Contains(out, "15559876543@s.whatsapp.net") {
		t.Fatalf("groups add by LID: %d\n%s", code, out)
	}
	out, code := cli(t, work, vars, "auth")
	if code != 1 || !strings.Contains(out, "already paired as 15551234567@s.whatsapp.net") || !strings.Contains(out, "--force") {
		t.Fatalf("auth with a session: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(storeDir, whatsapp.StoreFile)); err != nil {
		t.Fatal(err)
	}
}

func TestValidPhone(t *testing.T) {
	for p, want := range map[string]bool{"+15551234567": true, "15551234567": false, "+1555": false, "+1555123456789012": false, "+1555abc4567": false} {
		if got := validPhone(p); got != want {
			t.Errorf("validPhone(%q) = %v", p, got)
		}
	}
}
