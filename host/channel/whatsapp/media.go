package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"

	"github.com/nanoclaw/nanoclaw-go/host/channel"
)

// mediaTimeout bounds the sink calls for a message that came with a file: the host may
// download it first.
const mediaTimeout = 5 * time.Minute

// messageMedia describes the file a message carries, if any, for the host to fetch through
// whatsmeow's download of that media. A view-once file is described but never fetched:
// its sender chose that it not be kept.
func (c *Channel) messageMedia(m *waE2E.Message, viewOnce bool) []channel.Media {
	var (
		md   channel.Media
		from whatsmeow.DownloadableMessage
	)
	switch {
	case m.GetImageMessage() != nil:
		im := m.GetImageMessage()
		md = channel.Media{Kind: "image", MIME: im.GetMimetype(), Size: size64(im.GetFileLength()),
			Width: int(im.GetWidth()), Height: int(im.GetHeight())}
		from, viewOnce = im, viewOnce || im.GetViewOnce()
	case m.GetStickerMessage() != nil:
		st := m.GetStickerMessage()
		md = channel.Media{Kind: "sticker", MIME: st.GetMimetype(), Size: size64(st.GetFileLength()),
			Width: int(st.GetWidth()), Height: int(st.GetHeight())}
		from = st
	case m.GetDocumentMessage() != nil:
		d := m.GetDocumentMessage()
		md = channel.Media{Kind: "document", MIME: d.GetMimetype(), FileName: d.GetFileName(), Size: size64(d.GetFileLength())}
		from = d
	case m.GetAudioMessage() != nil:
		a := m.GetAudioMessage()
		md = channel.Media{Kind: "audio", MIME: a.GetMimetype(), Size: size64(a.GetFileLength()), Seconds: int(a.GetSeconds())}
		if a.GetPTT() {
			md.Kind = "voice"
		}
		from, viewOnce = a, viewOnce || a.GetViewOnce()
	case m.GetVideoMessage() != nil, m.GetPtvMessage() != nil:
		v := m.GetVideoMessage()
		if v == nil {
			v = m.GetPtvMessage()
		}
		md = channel.Media{Kind: "video", MIME: v.GetMimetype(), Size: size64(v.GetFileLength()), Seconds: int(v.GetSeconds()),
			Width: int(v.GetWidth()), Height: int(v.GetHeight())}
		from, viewOnce = v, viewOnce || v.GetViewOnce()
	default:
		return nil
	}
	if !viewOnce {
		md.Fetch = c.fetcher(from)
	}
	return []channel.Media{md}
}

// fetcher downloads one file with the client. whatsmeow returns the data together with a
// warning when only its announced length or plain-text hash disagree (the media key and
// MAC were right): the file is kept, since whoever reads it treats it as untrusted anyway.
func (c *Channel) fetcher(d whatsmeow.DownloadableMessage) func(context.Context, int64) ([]byte, error) {
	return func(ctx context.Context, limit int64) ([]byte, error) {
		data, err := c.client.Download(ctx, d)
		if err != nil && len(data) > 0 && (errors.Is(err, whatsmeow.ErrFileLengthMismatch) || errors.Is(err, whatsmeow.ErrInvalidMediaSHA256)) {
			c.log.Warn("downloaded media does not match its description; kept", "err", err)
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("whatsapp download: %w", err)
		}
		if int64(len(data)) > limit {
			return nil, channel.ErrMediaTooLarge
		}
		return data, nil
	}
}

// size64 is an announced length as a signed count, capped.
func size64(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
