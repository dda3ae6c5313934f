// Package imagefit makes an image file into what the model API accepts: JPEG, PNG, GIF or
// WebP, at most about 5 MB once base64-encoded, no longer than 1568 pixels on its long side
// and no larger than about 1.15 megapixels (the API downscales beyond that anyway, so
// sending more only costs time and bytes).
// The agent runner uses it on files it reads in its container, which anyone in the chat
// (or the agent) may have made: every image is decoded in full before it is sent, so a
// corrupt or truncated one becomes an error here, never a request the API refuses, and its
// declared size is checked before decoding, so a small file cannot claim a huge canvas.
package imagefit

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decodes GIF
	"image/jpeg"
	"image/png"
	"math"

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // decodes WebP (stickers)
)

// Limits bound what Fit returns and what it agrees to decode.
type Limits struct {
	// MaxBytes is the largest image returned: the API's 5 MB applies to the base64 text,
	// so 3/4 of it.
	MaxBytes int
	// MaxSide is the longest side returned; a larger image is scaled down.
	MaxSide int
	// MaxArea is the most pixels returned (width × height); a larger image is scaled down.
	MaxArea int
	// MaxPixels is the largest canvas decoded at all (width × height).
	MaxPixels int
}

// Default is the model API's limits.
var Default = Limits{MaxBytes: 5 << 20 * 3 / 4, MaxSide: 1568, MaxArea: 1_150_000, MaxPixels: 64 << 20}

// Errors Fit returns, each a reason to tell the model.
var (
	ErrNotImage  = errors.New("not an image in a format the model can read (JPEG, PNG, GIF or WebP)")
	ErrCorrupt   = errors.New("the image is corrupt or truncated")
	ErrTooLarge  = errors.New("the image is too large to process")
	ErrNoFit     = errors.New("the image could not be made small enough for the model")
	ErrAnimated  = errors.New("it is an animated WebP (an animated sticker), which cannot be shown")
	errEmptySize = errors.New("the image has no pixels")
)

// Result is an image ready for the API.
type Result struct {
	Data          []byte
	MediaType     string // image/jpeg, image/png, image/gif or image/webp
	Width, Height int
	Resized       bool // scaled down or re-encoded
}

// Fit returns data as the API will take it: unchanged when it already is, else scaled and
// re-encoded (JPEG, or PNG for an image with transparency that fits as PNG). The error is
// one of the package's errors, wrapped with detail.
func Fit(data []byte, lim Limits) (res Result, err error) {
	defer func() {
		// The decoders are memory-safe, but a panic on hostile input must never take the
		// runner down with it.
		if r := recover(); r != nil {
			res, err = Result{}, fmt.Errorf("%w (%v)", ErrCorrupt, r)
		}
	}()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return Result{}, ErrNotImage
		}
		return Result{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Result{}, fmt.Errorf("%w: %w", ErrCorrupt, errEmptySize)
	}
	if format == "webp" && animatedWebP(data) {
		return Result{}, ErrAnimated
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) {
		return Result{}, fmt.Errorf("%w: %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return Result{}, fmt.Errorf("%w: %w", ErrCorrupt, errEmptySize)
	}
	nw, nh := fitSize(w, h, lim)
	if len(data) <= lim.MaxBytes && nw == w && nh == h {
		return Result{Data: data, MediaType: "image/" + format, Width: w, Height: h}, nil
	}
	if nw != w || nh != h {
		img = scale(img, nw, nh)
		w, h = nw, nh
	}
	out, mediaType, err := encode(img, lim.MaxBytes)
	if err != nil {
		return Result{}, err
	}
	return Result{Data: out, MediaType: mediaType, Width: w, Height: h, Resized: true}, nil
}

// animatedWebP reports whether a WebP file's extended header (VP8X) says it is animated:
// x/image/webp decodes still images only.
func animatedWebP(data []byte) bool {
	const animationBit = 1 << 1
	return len(data) > 20 && string(data[12:16]) == "VP8X" && data[20]&animationBit != 0
}

// fitSize is w×h scaled down, proportions kept, to within MaxSide and MaxArea (a limit of
// 0 is none); unchanged when it already is.
func fitSize(w, h int, lim Limits) (int, int) {
	f := 1.0
	if lim.MaxSide > 0 && max(w, h) > lim.MaxSide {
		f = float64(lim.MaxSide) / float64(max(w, h))
	}
	if area := float64(w) * float64(h) * f * f; lim.MaxArea > 0 && area > float64(lim.MaxArea) {
		f *= math.Sqrt(float64(lim.MaxArea) / area)
	}
	if f >= 1 {
		return w, h
	}
	return max(1, int(float64(w)*f)), max(1, int(float64(h)*f))
}

// scale shrinks img to w×h: halving steps while it is more than twice that (each a 2×2
// average), then one bilinear step of at most half, whose samples cover the source, so
// nothing aliases. CatmullRom, tried first, was ~16 times slower on a 4000×3000 photo (1.7 s
// against 0.1 s for the scaling alone, on a loaded two-core machine).
func scale(img image.Image, w, h int) image.Image {
	b := img.Bounds()
	for b.Dx() > 2*w && b.Dy() > 2*h {
		half := image.NewRGBA(image.Rect(0, 0, max(w, b.Dx()/2), max(h, b.Dy()/2)))
		xdraw.ApproxBiLinear.Scale(half, half.Bounds(), img, b, draw.Src, nil)
		img, b = half, half.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// encode writes img as PNG when it has transparency and fits, else as JPEG on white at the
// best quality that fits in maxBytes.
func encode(img image.Image, maxBytes int) ([]byte, string, error) {
	var buf bytes.Buffer
	if !opaque(img) {
		if err := png.Encode(&buf, img); err == nil && buf.Len() <= maxBytes {
			return buf.Bytes(), "image/png", nil
		}
		img = onWhite(img)
	}
	for _, q := range []int{85, 70, 50, 30} {
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrNoFit, err)
		}
		if buf.Len() <= maxBytes {
			return buf.Bytes(), "image/jpeg", nil
		}
	}
	return nil, "", ErrNoFit
}

// opaque reports whether every pixel of img is fully opaque.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return false
			}
		}
	}
	return true
}

// onWhite flattens img onto a white background (JPEG has no transparency).
func onWhite(img image.Image) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(b)
	draw.Draw(dst, b, &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(dst, b, img, b.Min, draw.Over)
	return dst
}
