package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"github.com/spf13/cobra"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/nanoclaw/nanoclaw-go/host/channel/whatsapp"
	"github.com/nanoclaw/nanoclaw-go/host/config"
)

// cmdAuth pairs this host with a WhatsApp account: a QR code drawn in the terminal, or a
// pairing code for a phone number. It refuses when a session exists unless --force.
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
	usePairing := fs.Bool("pairing-code", false, "pair with a code typed on the phone instead of a QR code")
	phone := fs.String("phone", "", "the account's phone number with country code, e.g. +15551234567 (with --pairing-code)")
	force := fs.Bool("force", false, "forget the existing session and pair again")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	check := fs.Bool("check", false, "only say whether this host is paired: exit 0 if it is, 1 if not (pairs nothing, writes nothing)")
	c.RunE = body(func(ctx context.Context, c *cobra.Command, _ []string) int {
		if *check {
			return runAuthCheck(ctx, e)
		}
		return runAuth(ctx, c, e, *usePairing, *phone, *force, *timeout)
	})
	return c
}

// runAuth pairs; see cmdAuth.
func runAuth(ctx context.Context, c *cobra.Command, e env, usePairing bool, phone string, force bool, timeout time.Duration) int {
	if usePairing && !validPhone(phone) {
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	container, err := whatsapp.OpenStore(ctx, storeDir, nil)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	defer container.Close()
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw:", err)
		return 2
	}
	if dev.ID != nil {
		if !force {
			fmt.Fprintf(e.stderr, "already paired as %s; run with --force to pair again\n", dev.ID.ToNonAD())
			return 1
		}
		if err := container.DeleteDevice(ctx, dev); err != nil {
			fmt.Fprintln(e.stderr, "nanoclaw: forget the old session:", err)
			return 2
		}
		dev = container.NewDevice()
	}
	cli := whatsmeow.NewClient(dev, nil)
	connected := make(chan struct{}, 1)
	cli.AddEventHandler(func(evt any) {
		if _, ok := evt.(*events.Connected); ok {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	})
	qr, err := cli.GetQRChannel(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw auth:", err)
		return 2
	}
	if err := cli.Connect(); err != nil {
		fmt.Fprintln(e.stderr, "nanoclaw auth: connect to WhatsApp:", err)
		return 1
	}
	defer cli.Disconnect()
	askedCode := false
	for item := range qr {
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if usePairing {
				if askedCode {
					continue
				}
				askedCode = true
				code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
				if err != nil {
					fmt.Fprintln(e.stderr, "nanoclaw auth: pairing code:", err)
					return 1
				}
				fmt.Fprintf(e.stdout, "On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead, and enter:\n\n    %s\n\n", code)
				continue
			}
			fmt.Fprintln(e.stdout, "Scan with WhatsApp > Linked devices > Link a device:")
			qrterminal.GenerateHalfBlock(item.Code, qrterminal.L, e.stdout)
		case "success":
			// WhatsApp drops the connection after pairing and the client reconnects:
			// wait for that before calling it done, so the session is known to work.
			select {
			case <-connected:
			case <-ctx.Done():
			}
			fmt.Fprintf(e.stdout, "paired as %s; start the host with `nanoclaw run`\n", cli.Store.ID.ToNonAD())
			return 0
		case "timeout":
			fmt.Fprintln(e.stderr, "nanoclaw auth: the QR codes expired before one was scanned; run it again")
			return 1
		default:
			msg := item.Event
			if item.Error != nil {
				msg += ": " + item.Error.Error()
			}
			fmt.Fprintln(e.stderr, "nanoclaw auth: pairing failed:", msg)
			return 1
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintln(e.stderr, "nanoclaw auth: timed out")
	} else {
		fmt.Fprintln(e.stderr, "nanoclaw auth: pairing ended without success")
	}
	return 1
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
