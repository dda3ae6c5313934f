package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
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
		{"phone without pairing code", []string{"auth", "--phone", "+15551234567"}, 2, "auth: --phone is for --pairing-code"},
		{"bad connect timeout", []string{"auth", "--connect-timeout", "soon"}, 2, "--connect-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, work, vars, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			// A usage error is one line pointing at the command's help.
			if tc.code == 2 && (strings.Count(out, "\n") != 1 || !strings.Contains(out, "-h")) {
				t.Errorf("usage error is not one line with a pointer to -h:\n%s", out)
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

// TestAuthTellsTheHost: after pairing, auth asks a running host to connect the new session
// over its control socket, and says what came of it: connected, no host running, or the
// host's refusal.
func TestAuthTellsTheHost(t *testing.T) {
	tests := []struct {
		name  string
		serve func(*control.Server)
		want  string
	}{
		{"no host", nil, "start the host with `nanoclaw run`"},
		{"host connects", func(s *control.Server) {
			s.HandlePost(whatsappConnectPath, func(*http.Request) (any, error) { return map[string]string{"connected": "whatsapp"}, nil })
		}, "the running host is now connected to WhatsApp"},
		{"host refuses", func(s *control.Server) {
			s.HandlePost(whatsappConnectPath, func(*http.Request) (any, error) { return nil, errors.New("channel not configured") })
		}, "could not connect to WhatsApp (control /channels/whatsapp/connect: 500 Internal Server Error: channel not configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "auth") // short: a unix socket path
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			sock := filepath.Join(dir, "c.sock")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.serve != nil {
				s := control.NewServer(sock)
				tc.serve(s)
				if err := s.Listen(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- s.Serve(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
			}
			if got := tellHost(ctx, sock); !strings.Contains(got, tc.want) {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

// TestRunningHostConnectsWhatsAppOnRequest: a real host serves the endpoint auth calls after
// pairing, and builds the WhatsApp channel from the store there and then: with no session
// in store/whatsapp.db yet, it answers that WhatsApp is not configured, and keeps running.
func TestRunningHostConnectsWhatsAppOnRequest(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	vars := hostEnv(work, "http://127.0.0.1:1")
	startHost(t, work, vars)
	paths, err := config.PathsFromEnv(work, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := tellHost(ctx, paths.ControlSocket)
	if !strings.Contains(got, "could not connect to WhatsApp") || !strings.Contains(got, "channel not configured") {
		t.Fatalf("auth's call to a host with no session: %q", got)
	}
	var st map[string]any
	if err := control.GetJSON(ctx, paths.ControlSocket, "/status", &st); err != nil {
		t.Fatalf("the host stopped answering: %v", err)
	}
}
