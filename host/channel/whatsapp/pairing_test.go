package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// pairFake is a WhatsApp that answers (or not) as a test scripts it: items are what the
// QR channel emits once Connect is called; hang makes Connect never return.
type pairFake struct {
	pairScript

	mu          sync.Mutex
	handlers    []whatsmeow.EventHandler
	phones      []string
	disconnects int
	disconnCh   chan struct{}
	qr          chan whatsmeow.QRChannelItem
	release     chan struct{} // closed at the end of the test: a hanging Connect returns
}

// pairScript is what a pairFake does.
type pairScript struct {
	items      []whatsmeow.QRChannelItem
	connectErr error
	hang       bool
	pairErr    error
}

func (f *pairFake) GetQRChannel(context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	f.qr = make(chan whatsmeow.QRChannelItem, len(f.items)+1)
	return f.qr, nil
}

func (f *pairFake) Connect() error {
	if f.hang {
		<-f.release
		return errors.New("released")
	}
	if f.connectErr != nil {
		return f.connectErr
	}
	for _, it := range f.items {
		f.qr <- it
		if it.Event == whatsmeow.QRChannelSuccess.Event {
			// WhatsApp drops the link after pairing; the client reconnects.
			f.mu.Lock()
			hs := append([]whatsmeow.EventHandler(nil), f.handlers...)
			f.mu.Unlock()
			for _, h := range hs {
				h(&events.Connected{})
			}
		}
	}
	return nil
}

func (f *pairFake) Disconnect() {
	f.mu.Lock()
	f.disconnects++
	f.mu.Unlock()
	f.disconnCh <- struct{}{}
}

func (f *pairFake) PairPhone(_ context.Context, phone string, _ bool, _ whatsmeow.PairClientType, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phones = append(f.phones, phone+" "+name)
	return "ABCD-EFGH", f.pairErr
}

func (f *pairFake) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, h)
	return uint32(len(f.handlers))
}

func code(c string) whatsmeow.QRChannelItem {
	return whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: c, Timeout: 20 * time.Second}
}

// TestPair covers pairing against a scripted WhatsApp: QR codes redrawn in place on a
// terminal and one below the other elsewhere, the pairing code asked for once, expired
// codes, refused connections, and a network that never answers.
func TestPair(t *testing.T) {
	const up = "A\x1b[J" // the end of the redraw's cursor-up and clear
	tests := []struct {
		name     string
		fake     pairScript
		opts     PairOptions
		wantErr  error  // errors.Is
		errText  string // substring of the error
		out      []string
		notOut   []string
		redraws  int // cursor-up sequences in the output
		phones   int
		tooLong  time.Duration
		disconns int // Disconnect calls Pair made
	}{
		{name: "QR codes redrawn in place on a terminal",
			fake: pairScript{items: []whatsmeow.QRChannelItem{code("one"), code("two"), code("three"), whatsmeow.QRChannelSuccess}},
			opts: PairOptions{Terminal: true},
			out:  []string{"Connecting to WhatsApp…", "Scan with WhatsApp"}, redraws: 2},
		{name: "QR codes one below the other when not a terminal",
			fake: pairScript{items: []whatsmeow.QRChannelItem{code("one"), code("two"), whatsmeow.QRChannelSuccess}},
			out:  []string{"Scan with WhatsApp"}, notOut: []string{up}},
		{name: "pairing code asked for once",
			fake: pairScript{items: []whatsmeow.QRChannelItem{code("one"), code("two"), whatsmeow.QRChannelSuccess}},
			opts: PairOptions{Phone: "+15551234567"},
			out:  []string{"Link with phone number instead", "ABCD-EFGH"}, notOut: []string{"Scan with"}, phones: 1},
		{name: "pairing code refused",
			fake: pairScript{items: []whatsmeow.QRChannelItem{code("one")}, pairErr: errors.New("bad request")},
			opts: PairOptions{Phone: "+15551234567"}, errText: "pairing code: bad request", phones: 1, disconns: 1},
		{name: "codes expired",
			fake:    pairScript{items: []whatsmeow.QRChannelItem{code("one"), whatsmeow.QRChannelTimeout}},
			wantErr: ErrCodesExpired, disconns: 1},
		{name: "scanned by an old phone",
			fake:    pairScript{items: []whatsmeow.QRChannelItem{code("one"), whatsmeow.QRChannelScannedWithoutMultidevice}},
			errText: "pairing failed: err-scanned-without-multidevice", disconns: 1},
		{name: "connection refused",
			fake:    pairScript{connectErr: errors.New("dial tcp: connection refused")},
			errText: "cannot reach WhatsApp (dial tcp: connection refused): check this machine's network", disconns: 1},
		{name: "a network that never answers",
			fake: pairScript{hang: true}, opts: PairOptions{ConnectTimeout: 50 * time.Millisecond},
			wantErr: ErrNoAnswer, errText: "waited 50ms", out: []string{"Connecting to WhatsApp…"}, tooLong: 5 * time.Second, disconns: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &pairFake{pairScript: tc.fake, release: make(chan struct{}), disconnCh: make(chan struct{}, 10)}
			t.Cleanup(func() { close(f.release) })
			var out bytes.Buffer
			tc.opts.Out = &out
			ctx, cancel := context.WithTimeout(context.Background(), sendWait)
			defer cancel()
			start := time.Now()
			err := Pair(ctx, f, tc.opts)
			switch {
			case tc.wantErr == nil && tc.errText == "":
				if err != nil {
					t.Fatalf("Pair: %v\n%s", err, out.String())
				}
			default:
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Pair: %v, want %v / %q", err, tc.wantErr, tc.errText)
				}
			}
			if tc.tooLong > 0 && time.Since(start) > tc.tooLong {
				t.Errorf("gave up after %v", time.Since(start))
			}
			for _, s := range tc.out {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.notOut {
				if strings.Contains(out.String(), s) {
					t.Errorf("output has %q:\n%s", s, out.String())
				}
			}
			if n := strings.Count(out.String(), up); n != tc.redraws {
				t.Errorf("%d redraws, want %d", n, tc.redraws)
			}
			f.mu.Lock()
			phones := len(f.phones)
			f.mu.Unlock()
			if phones != tc.phones {
				t.Errorf("PairPhone called %d times, want %d", phones, tc.phones)
			}
			// Pair may disconnect in the background (a hanging dial): wait for each call.
			for i := 0; i < tc.disconns; i++ {
				select {
				case <-f.disconnCh:
				case <-time.After(sendWait):
					t.Fatalf("%d disconnects, want %d", i, tc.disconns)
				}
			}
			if len(f.disconnCh) != 0 {
				t.Errorf("more disconnects than %d", tc.disconns)
			}
		})
	}
}

// TestQRRedrawMovesOverTheLastDrawing: the cursor goes up exactly as many lines as the last
// drawing took, then clears to the end of the screen.
func TestQRRedrawMovesOverTheLastDrawing(t *testing.T) {
	var out bytes.Buffer
	d := &qrDrawer{out: &out, terminal: true}
	d.draw("first")
	first := out.String()
	lines := strings.Count(first, "\n")
	if lines < 10 || strings.Contains(first, "A\x1b[J") {
		t.Fatalf("first drawing: %d lines, escape present: %q", lines, first)
	}
	out.Reset()
	d.draw("second")
	if want := "\x1b[" + strconv.Itoa(lines) + "A\x1b[J"; !strings.HasPrefix(out.String(), want) {
		t.Fatalf("redraw starts %q, want %q", out.String()[:12], want)
	}
}

// TestSetDeviceName: a device paired after SetDeviceName presents itself as NanoClaw in the
// registration payload the phone lists it by.
func TestSetDeviceName(t *testing.T) {
	cli := newUnpairedClient(t, "wa_devname_test")
	SetDeviceName(DeviceName)
	payload := cli.Store.GetClientPayload()
	var props waCompanionReg.DeviceProps
	if err := proto.Unmarshal(payload.GetDevicePairingData().GetDeviceProps(), &props); err != nil {
		t.Fatal(err)
	}
	if props.GetOs() != DeviceName {
		t.Fatalf("device props name %q, want %q", props.GetOs(), DeviceName)
	}
}
