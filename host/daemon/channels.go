package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// ErrNotConfigured is ConnectChannel's answer when the factory has nothing to connect (no
// WhatsApp session yet, say).
var ErrNotConfigured = errors.New("channel not configured")

// channelOptions is what every channel factory gets.
func (d *Daemon) channelOptions() channel.Options {
	return channel.Options{Sink: d, Log: d.log, DataDir: d.layout.DataDir, StoreDir: filepath.Join(d.cfg.Root, "store"),
		AssistantName: d.cfg.Settings.AssistantName, HasOwnNumber: d.cfg.Settings.HasOwnNumber, Getenv: d.getenv,
		RegisteredGroup: d.groups.ByJID}
}

// addChannel puts a connected channel in the set (in the place of one with the same name)
// and follows its fatal errors. It returns the channel replaced, if any. chanMu is held.
func (d *Daemon) addChannel(ch channel.Channel) channel.Channel {
	old := d.chans.Replace(ch)
	if stop, ok := d.chanWatch[ch.Name()]; ok {
		close(stop) // the replaced channel's fatal errors no longer stop the host
		delete(d.chanWatch, ch.Name())
	}
	if f, ok := ch.(interface{ Fatal() <-chan error }); ok {
		stop := make(chan struct{})
		d.chanWatch[ch.Name()] = stop
		go func() {
			select {
			case err, ok := <-f.Fatal():
				if ok && err != nil {
					select {
					case d.fatalCh <- fmt.Errorf("%s: %w", ch.Name(), err):
					default:
					}
				}
			case <-stop:
			}
		}()
	}
	return old
}

// ConnectChannel builds a channel with f and connects it while the host runs: `nanoclaw
// auth` asks for it over the control socket once a WhatsApp session is paired, so a host
// started before pairing needs no restart. A connected channel of the same name is
// disconnected first (never two sessions at once) and replaced. Messages that waited for
// the channel are then run. It returns the channel's name; ErrNotConfigured when f builds
// nothing.
func (d *Daemon) ConnectChannel(ctx context.Context, f channel.Factory) (string, error) {
	if d.stopping.Load() {
		return "", errors.New("the host is stopping")
	}
	d.chanMu.Lock()
	defer d.chanMu.Unlock()
	ch, err := f(d.channelOptions())
	if err != nil {
		return "", fmt.Errorf("channel: %w", err)
	}
	if ch == nil {
		return "", ErrNotConfigured
	}
	for _, old := range d.chans.All() {
		if old.Name() == ch.Name() {
			if err := old.Disconnect(ctx); err != nil {
				d.log.Warn("channel disconnect before reconnecting", "channel", old.Name(), "error", err)
			}
		}
	}
	// The channel outlives the request that asked for it.
	if err := ch.Connect(context.WithoutCancel(ctx)); err != nil {
		return "", fmt.Errorf("channel %s did not connect: %w", ch.Name(), err)
	}
	d.addChannel(ch)
	d.log.Info("channel connected while running", "channel", ch.Name())
	d.recoverPending(ctx)
	return ch.Name(), nil
}
