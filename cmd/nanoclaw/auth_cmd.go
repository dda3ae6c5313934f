package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"go.mau.fi/whatsmeow"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/config"
	"github.com/nanoclaw/nanoclaw-go/host/control"
)

// whatsappConnectPath is the control endpoint that makes a running host connect the
// WhatsApp session `nanoclaw auth` just paired.
const whatsappConnectPath = "/channels/whatsapp/connect"

// cmdAuth pairs this host with a WhatsApp account: a QR code drawn in the terminal, or a
// pairing code for a phone number. It refuses when a session exists unless --force. A
// running host is told to connect the new session, so it needs no restart.
func cmdAuth(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "auth",
		Short: "Pair this host with WhatsApp: a QR code, or a code typed on the phone",
		Example: `  nanoclaw auth
  nanoclaw auth --pairing-code --phone +15551234567
  nanoclaw auth --check && echo paired`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	var o authOptions
	fs.BoolVar(&o.usePairing, "pairing-code", false, "pair with a code typed on the phone instead of a QR code")
	fs.StringVar(&o.phone, "phone", "", "the account's phone number with country code, e.g. +15551234567 (with --pairing-code)")
	fs.BoolVar(&o.force, "force", false, "forget the existing session and pair again")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", whatsapp.DefaultConnectTimeout, "give up when WhatsApp does not answer within this long")
	check := fs.Bool("check", false, "only say whether this host is paired: exit 0 if it is, 1 if not (pairs nothing, writes nothing)")
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *check {
			return runAuthCheck(ctx, e)
		}
		return runAuth(ctx, c, e, o)
	})
	return c
}

// authOptions are auth's flags.
type authOptions struct {
	usePairing, force       bool
	phone                   string
	timeout, connectTimeout time.Duration
}

// runAuth pairs; see cmdAuth.
func runAuth(ctx context.Context, c *cobra.Command, e env, o authOptions) int {
	if o.phone != "" && !o.usePairing {
		return usage(c, "--phone is for --pairing-code; add it, or drop --phone to scan a QR code")
	}
	if o.usePairing && !validPhone(o.phone) {
		return usage(c, "--pairing-code needs --phone +<country code><number>, digits only")
	}
	paths, err := config.PathsFromEnv(e.workdir, e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	storeDir := filepath.Join(paths.Root, "store")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	container, err := whatsapp.OpenStore(ctx, storeDir, nil)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	closeStore := sync.OnceFunc(func() { _ = container.Close() })
	defer closeStore()
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if dev.ID != nil {
		if !o.force {
			fmt.Fprintf(e.stderr, "already paired as %s; run with --force to pair again\n", dev.ID.ToNonAD())
			return 1
		}
		if err := container.DeleteDevice(ctx, dev); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw: forget the old session:", err)
			return 2
		}
		dev = container.NewDevice()
	}
	whatsapp.SetDeviceName(whatsapp.DeviceName) // the phone lists this host as NanoClaw
	cli := whatsmeow.NewClient(dev, nil)
	popts := whatsapp.PairOptions{ConnectTimeout: o.connectTimeout, Out: e.stdout, Terminal: isTerminal(e.stdout)}
	if o.usePairing {
		popts.Phone = o.phone
	}
	if err := whatsapp.Pair(ctx, cli, popts); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw auth:", err)
		return 1
	}
	jid := cli.Store.ID.ToNonAD()
	// One session, one connection: this process lets go before the host connects.
	cli.Disconnect()
	closeStore()
	fmt.Fprintf(e.stdout, "paired as %s\n", jid)
	fmt.Fprintln(e.stdout, tellHost(ctx, paths.ControlSocket))
	return 0
}

// tellHost asks a running host to connect the new session and says what happened.
func tellHost(ctx context.Context, socket string) string {
	var ok map[string]string
	err := control.PostJSON(ctx, socket, whatsappConnectPath, &ok)
	switch {
	case err == nil:
		return "the running host is now connected to WhatsApp"
	case errors.Is(err, control.ErrNoHost):
		return "start the host with `nanoclaw run`"
	default:
		return fmt.Sprintf("the running host could not connect to WhatsApp (%v); restart it with `nanoclaw run`", err)
	}
}

// isTerminal reports whether w is a terminal, where QR codes are redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// validPhone accepts +<digits> (7 to 15 digits, E.164).
func validPhone(p string) bool {
	d, ok := strings.CutPrefix(p, "+")
	if !ok || len(d) < 7 || len(d) > 15 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
