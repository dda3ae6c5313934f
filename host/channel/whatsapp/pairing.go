package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types/events"
)

// DeviceName is how the phone lists this host under Linked devices.
const DeviceName = "NanoClaw"

// DefaultConnectTimeout is how long pairing waits for WhatsApp's first answer.
const DefaultConnectTimeout = 30 * time.Second

// Pairing errors; the CLI prints them as they are.
var (
	// ErrNoAnswer means WhatsApp's servers never answered: no network, a firewall, a proxy.
	ErrNoAnswer = errors.New("no answer from WhatsApp: check this machine's network connection (and any firewall or proxy), then try again")
	// ErrCodesExpired means every QR code expired before one was scanned.
	ErrCodesExpired = errors.New("the QR codes expired before one was scanned; run it again")
)

// SetDeviceName sets the name the phone shows for a device paired from now on. whatsmeow
// keeps the companion properties sent at pairing in a package variable
// (store.DeviceProps, "whatsmeow" by default), so this is process-wide: call it once,
// before pairing.
func SetDeviceName(name string) {
	store.SetOSInfo(name, [3]uint32{1, 0, 0})
}

// PairClient is the part of *whatsmeow.Client pairing uses: the seam tests fake, since
// pairing needs WhatsApp's servers.
type PairClient interface {
	GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error)
	Connect() error
	Disconnect()
	PairPhone(ctx context.Context, phone string, showPushNotification bool, clientType whatsmeow.PairClientType, clientDisplayName string) (string, error)
	AddEventHandler(h whatsmeow.EventHandler) uint32
}

// PairOptions configure Pair.
type PairOptions struct {
	// Phone, "+<country code><number>", pairs with a code typed on the phone; "" shows QR
	// codes.
	Phone string
	// ConnectTimeout bounds the wait for WhatsApp's first answer (DefaultConnectTimeout
	// when 0). The whole pairing is bounded by ctx.
	ConnectTimeout time.Duration
	// Out is where instructions, codes and progress go.
	Out io.Writer
	// Terminal says Out is a terminal: each new QR code is drawn over the previous one
	// instead of below it.
	Terminal bool
}

// Pair links cli's (unpaired) device to a WhatsApp account: it connects, shows QR codes
// (or asks for a pairing code), and returns nil once the paired session has connected
// again, which is when it is known to work. It says "Connecting to WhatsApp…" first, and
// gives up with ErrNoAnswer when the servers stay silent for ConnectTimeout. On success
// cli stays connected (the caller disconnects it); on failure Pair disconnects it, without
// waiting for a connection attempt that still hangs.
func Pair(ctx context.Context, cli PairClient, opts PairOptions) (err error) {
	connectDone := make(chan struct{})
	defer func() {
		if err == nil {
			return
		}
		select {
		case <-connectDone:
			cli.Disconnect()
		default:
			go cli.Disconnect() // it waits for the hanging dial; the caller need not
		}
	}()
	return pair(ctx, cli, opts, connectDone)
}

func pair(ctx context.Context, cli PairClient, opts PairOptions, connectDone chan<- struct{}) error {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
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
		return fmt.Errorf("pairing: %w", err)
	}
	fmt.Fprintln(opts.Out, "Connecting to WhatsApp…")
	connErr := make(chan error, 1)
	go func() {
		defer close(connectDone)
		connErr <- cli.Connect()
	}()
	silence := time.NewTimer(opts.ConnectTimeout)
	defer silence.Stop()
	draw := &qrDrawer{out: opts.Out, terminal: opts.Terminal}
	askedCode := false
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case item, ok = <-qr:
			if !ok {
				return errors.New("pairing ended without success")
			}
		case err := <-connErr:
			if err != nil {
				return fmt.Errorf("cannot reach WhatsApp (%w): check this machine's network connection (and any firewall or proxy), then try again", err)
			}
			continue
		case <-silence.C:
			return fmt.Errorf("%w (waited %s)", ErrNoAnswer, opts.ConnectTimeout)
		case <-ctx.Done():
			return fmt.Errorf("pairing: %w", ctx.Err())
		}
		silence.Stop() // WhatsApp answered
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if opts.Phone == "" {
				draw.draw(item.Code)
				continue
			}
			if askedCode {
				continue
			}
			askedCode = true
			code, err := cli.PairPhone(ctx, opts.Phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
			if err != nil {
				return fmt.Errorf("pairing code: %w", err)
			}
			fmt.Fprintf(opts.Out, "On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead, and enter:\n\n    %s\n\n", code)
		case whatsmeow.QRChannelSuccess.Event:
			// WhatsApp drops the connection after pairing and the client reconnects: wait
			// for that before calling it done, so the session is known to work.
			select {
			case <-connected:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("paired, but the new session did not connect: %w", ctx.Err())
			}
		case whatsmeow.QRChannelTimeout.Event:
			return ErrCodesExpired
		default:
			msg := item.Event
			if item.Error != nil {
				msg += ": " + item.Error.Error()
			}
			return fmt.Errorf("pairing failed: %s", msg)
		}
	}
}

// qrDrawer draws QR codes; on a terminal each one replaces the last.
type qrDrawer struct {
	out      io.Writer
	terminal bool
	lines    int // lines the last drawing took
}

// draw shows code with its instructions. On a terminal it first moves the cursor up over
// the previous drawing and clears from there down (ANSI CSI n A, CSI J).
func (d *qrDrawer) draw(code string) {
	var b bytes.Buffer
	if d.terminal && d.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", d.lines)
	}
	start := b.Len()
	b.WriteString("Scan with WhatsApp > Linked devices > Link a device (the code changes every 20 seconds or so):\n")
	qrterminal.GenerateHalfBlock(code, qrterminal.L, &b)
	d.lines = strings.Count(b.String()[start:], "\n")
	_, _ = d.out.Write(b.Bytes())
}
