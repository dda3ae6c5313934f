package whatsapp

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
)

// TestPaired: only a stored device with an id is a session; the check never creates the file.
func TestPaired(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    bool
	}{
		{"no file", func(*testing.T, string) {}, false},
		{"empty file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, StoreFile), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"store made by a failed auth (no device)", func(t *testing.T, dir string) {
			c, err := OpenStore(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}, false},
		{"unsaved new device", func(t *testing.T, dir string) {
			c, err := OpenStore(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.NewDevice() // what auth holds while the QR code shows: not stored
		}, false},
		{"paired device", func(t *testing.T, dir string) {
			c, err := OpenStore(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dev := c.NewDevice()
			id := types.NewADJID("15551234567", 0, 3)
			dev.ID = &id
			dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64),
				AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
			if err := dev.Save(ctx); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.prepare(t, dir)
			before, statErr := os.Stat(filepath.Join(dir, StoreFile))
			jid, ok, err := Paired(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want || (ok && jid == "") {
				t.Fatalf("Paired = %q, %v; want %v", jid, ok, tc.want)
			}
			after, err := os.Stat(filepath.Join(dir, StoreFile))
			if statErr != nil {
				if err == nil {
					t.Fatal("the check created whatsapp.db")
				}
				return
			}
			if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
				t.Fatalf("the check changed whatsapp.db: %v", err)
			}
		})
	}
}
