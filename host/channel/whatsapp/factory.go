package whatsapp

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// EnvSendInterval sets the least time between two outbound messages (default 1s): a rate
// limit that protects the account from being flagged for bursts.
const EnvSendInterval = "NANOCLAW_WHATSAPP_SEND_INTERVAL"

// Factory builds the WhatsApp channel from store/whatsapp.db. With no paired session it
// returns (nil, nil): the host starts without WhatsApp and says how to pair.
func Factory(opts channel.Options) (channel.Channel, error) {
	ctx := context.Background()
	c, err := OpenStore(ctx, opts.StoreDir, nil)
	if err != nil {
		return nil, err
	}
	dev, err := c.GetFirstDevice(ctx)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("whatsapp store: %w", err)
	}
	if dev.ID == nil {
		_ = c.Close()
		opts.Log.Info("no WhatsApp session: pair this host with `nanoclaw auth`; until then only the local chat runs")
		return nil, nil
	}
	o := Options{Sink: opts.Sink, Log: opts.Log.Named("whatsapp"), AssistantName: opts.AssistantName, HasOwnNumber: opts.HasOwnNumber, Store: c}
	if opts.Getenv != nil {
		p, err := ParsePresence(opts.Getenv(EnvPresence), opts.HasOwnNumber)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		o.Presence = p
		if v := opts.Getenv(EnvSendInterval); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				_ = c.Close()
				return nil, fmt.Errorf("%s=%q: want a duration such as 1s or 500ms", EnvSendInterval, v)
			}
			o.MinSendInterval = d
		}
	}
	cli := whatsmeow.NewClient(dev, nil)
	o.Directory = ClientDirectory{Client: cli, Device: dev}
	return New(o, cli, DeviceIdentity{Device: dev}), nil
}

// DeviceIdentity answers Identity from whatsmeow's device store.
type DeviceIdentity struct{ Device *store.Device }

// Own returns the paired account's phone JID and LID.
func (d DeviceIdentity) Own() (pn, lid types.JID) {
	if d.Device.ID != nil {
		pn = d.Device.ID.ToNonAD()
	}
	return pn, d.Device.LID.ToNonAD()
}

// PNForLID maps a LID through the store's LID table.
func (d DeviceIdentity) PNForLID(ctx context.Context, lid types.JID) (types.JID, bool) {
	if d.Device.LIDs == nil {
		return types.EmptyJID, false
	}
	pn, err := d.Device.LIDs.GetPNForLID(ctx, lid)
	if err != nil || pn.IsEmpty() {
		return types.EmptyJID, false
	}
	return pn, true
}

// CanonicalJID is the form a chat id is filed under: a LID becomes its phone-number JID
// when known, a device part is dropped. The host registers chats in this form, so a chat
// given either way matches its messages.
func (c *Channel) CanonicalJID(ctx context.Context, jid string) string {
	j, err := types.ParseJID(jid)
	if err != nil {
		return jid
	}
	return c.normalizeJID(ctx, j, types.EmptyJID).String()
}
