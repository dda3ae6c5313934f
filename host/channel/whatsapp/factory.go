package whatsapp

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

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
		return nil, fmt.Errorf("whatsapp store: %w", err)
	}
	if dev.ID == nil {
		opts.Log.Info("no WhatsApp session: pair this host with `nanoclaw auth`; until then only the local chat runs")
		return nil, nil
	}
	cli := whatsmeow.NewClient(dev, nil)
	return New(Options{Sink: opts.Sink, Log: opts.Log.Named("whatsapp"), AssistantName: opts.AssistantName, HasOwnNumber: opts.HasOwnNumber},
		cli, DeviceIdentity{Device: dev}), nil
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
