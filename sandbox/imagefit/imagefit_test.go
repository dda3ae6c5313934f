package imagefit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

// picture is a w×h image with some detail (so JPEG has something to compress); alpha < 255
// makes it translucent.
func picture(w, h int, alpha uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 3), B: uint8((x ^ y) & 0xff), A: alpha})
		}
	}
	return img
}

// noise is a w×h image of pseudo-random pixels: it compresses badly in any format.
func noise(w, h int, alpha uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	x := uint32(1)
	for i := 0; i < len(img.Pix); i += 4 {
		for j := 0; j < 3; j++ {
			x = x*1664525 + 1013904223
			img.Pix[i+j] = uint8(x >> 24)
		}
		img.Pix[i+3] = alpha
	}
	return img
}

func jpegOf(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG that claims a w×h canvas and holds no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// animatedHeader is the start of an animated WebP: RIFF, VP8X with the animation flag, a
// 512×512 canvas.
func animatedHeader() []byte {
	vp8x := []byte{0x02, 0, 0, 0, 0xff, 0x01, 0, 0xff, 0x01, 0}
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00")
	b = append(b, vp8x...)
	b = append(b, []byte("ANIM\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00")...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// TestFit: what passes unchanged, what is scaled or re-encoded, and every refusal.
func TestFit(t *testing.T) {
	small := jpegOf(t, picture(200, 100, 255))
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, picture(40, 30, 255), nil); err != nil {
		t.Fatal(err)
	}
	sticker, err := os.ReadFile("testdata/sticker.webp")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		data      []byte
		lim       Limits
		err       error
		mediaType string
		w, h      int
		same      bool // returned unchanged
	}{
		{name: "small JPEG unchanged", data: small, lim: Default, mediaType: "image/jpeg", w: 200, h: 100, same: true},
		{name: "translucent PNG unchanged", data: pngOf(t, picture(64, 64, 128)), lim: Default, mediaType: "image/png", w: 64, h: 64, same: true},
		{name: "GIF unchanged", data: gifBuf.Bytes(), lim: Default, mediaType: "image/gif", w: 40, h: 30, same: true},
		{name: "WebP sticker unchanged", data: sticker, lim: Default, mediaType: "image/webp", w: 150, h: 100, same: true},
		{name: "panorama scaled to 1568 on its long side", data: jpegOf(t, picture(4000, 500, 255)), lim: Default, mediaType: "image/jpeg", w: 1568, h: 196},
		{name: "photo scaled to 1.15 megapixels", data: jpegOf(t, picture(3000, 2000, 255)), lim: Default, mediaType: "image/jpeg", w: 1313, h: 875},
		{name: "tall photo scaled", data: jpegOf(t, picture(1000, 2000, 255)), lim: Default, mediaType: "image/jpeg", w: 758, h: 1516},
		{name: "translucent PNG scaled stays PNG", data: pngOf(t, picture(2000, 100, 100)), lim: Default, mediaType: "image/png", w: 1568, h: 78},
		{name: "over the byte cap: re-encoded smaller", data: pngOf(t, noise(300, 300, 255)), lim: Limits{MaxBytes: 150 << 10, MaxSide: 1568, MaxPixels: 1 << 20}, mediaType: "image/jpeg", w: 300, h: 300},
		{name: "translucent and over the byte cap: JPEG on white", data: pngOf(t, noise(300, 300, 100)), lim: Limits{MaxBytes: 150 << 10, MaxSide: 1568, MaxPixels: 1 << 20}, mediaType: "image/jpeg", w: 300, h: 300},
		{name: "cannot be made small enough", data: small, lim: Limits{MaxBytes: 100, MaxSide: 1568, MaxPixels: 1 << 20}, err: ErrNoFit},
		{name: "truncated JPEG", data: small[:len(small)/2], lim: Default, err: ErrCorrupt},
		{name: "JPEG header only", data: small[:20], lim: Default, err: ErrCorrupt},
		{name: "not an image", data: []byte("%PDF-1.4 hello"), lim: Default, err: ErrNotImage},
		{name: "empty", data: nil, lim: Default, err: ErrNotImage},
		{name: "a huge canvas is never decoded", data: pngHeader(100000, 100000), lim: Default, err: ErrTooLarge},
		{name: "a canvas without pixels", data: pngHeader(0, 10), lim: Default, err: ErrCorrupt},
		{name: "an animated WebP", data: animatedHeader(), lim: Default, err: ErrAnimated},
		{name: "a PNG header without its pixels", data: pngHeader(10, 10), lim: Default, err: ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Fit(tt.data, tt.lim)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.MediaType != tt.mediaType || res.Width != tt.w || res.Height != tt.h {
				t.Fatalf("%s %dx%d, want %s %dx%d", res.MediaType, res.Width, res.Height, tt.mediaType, tt.w, tt.h)
			}
			if same := bytes.Equal(res.Data, tt.data); same != tt.same || res.Resized == tt.same {
				t.Fatalf("unchanged %v (resized %v), want unchanged %v", same, res.Resized, tt.same)
			}
			if len(res.Data) > tt.lim.MaxBytes {
				t.Fatalf("%d bytes, over %d", len(res.Data), tt.lim.MaxBytes)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(res.Data))
			if err != nil || "image/"+format != res.MediaType || cfg.Width != tt.w || cfg.Height != tt.h {
				t.Fatalf("result decodes as %s %dx%d, %v", format, cfg.Width, cfg.Height, err)
			}
		})
	}
}

// FuzzFit: no input makes Fit panic, and what it returns is an image within the limits
// that decodes as what it says it is.
func FuzzFit(f *testing.F) {
	f.Add(jpegOf(f, picture(20, 10, 255)))
	f.Add(pngOf(f, picture(30, 5, 10)))
	f.Add(pngHeader(5000, 5000))
	if b, err := os.ReadFile("testdata/sticker.webp"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add(animatedHeader())
	lim := Limits{MaxBytes: 64 << 10, MaxSide: 64, MaxArea: 2000, MaxPixels: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Fit(data, lim)
		if err != nil {
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoFit) && !errors.Is(err, ErrAnimated) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(res.Data) > lim.MaxBytes || max(res.Width, res.Height) > lim.MaxSide || res.Width*res.Height > lim.MaxArea {
			t.Fatalf("result %s %dx%d, %d bytes: over the limits", res.MediaType, res.Width, res.Height, len(res.Data))
		}
		if _, _, err := image.Decode(bytes.NewReader(res.Data)); err != nil {
			t.Fatalf("result does not decode: %v", err)
		}
	})
}

// BenchmarkFit is a photo made ready for the model (decoded, scaled to ~1.15 MP and
// re-encoded, as the runner does for every such photo): a camera's 4000×3000 JPEG, and the
// 1600×1200 WhatsApp sends by default.
func BenchmarkFit(b *testing.B) {
	for _, size := range []image.Point{{4000, 3000}, {1600, 1200}} {
		b.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(b *testing.B) {
			data := jpegOf(b, picture(size.X, size.Y, 255))
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := Fit(data, Default); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
