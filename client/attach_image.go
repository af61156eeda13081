package client

import (
	"bytes"
	"context"
	"image"
	"image/color"
	_ "image/gif" // registers the decoders DecodeConfig and Decode use
	"image/jpeg"
	_ "image/png"
	"io"
	"strings"

	"github.com/samizdat-project/samizdat/attach"
)

// Thumbnail limits: images up to maxThumbSource pixels get a JPEG preview
// of at most thumbSide pixels a side; larger ones (or a decompression
// bomb) only their dimensions.
const (
	thumbSide      = 128
	maxThumbSource = 16 << 20 // pixels decoded to make a thumbnail
)

// describeImage fills an image's dimensions from its header and, for an
// image of at most maxThumbSource pixels, a small JPEG thumbnail that
// travels (encrypted) in the descriptor.
func describeImage(r io.ReaderAt, a *attach.Attachment) {
	if !strings.HasPrefix(a.MediaType, "image/") {
		return
	}
	cfg, _, err := image.DecodeConfig(io.NewSectionReader(r, 0, a.Size))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return
	}
	a.Width, a.Height = uint32(cfg.Width), uint32(cfg.Height)
	if int64(cfg.Width)*int64(cfg.Height) > maxThumbSource {
		return
	}
	img, _, err := image.Decode(io.NewSectionReader(r, 0, a.Size))
	if err != nil {
		return
	}
	small := shrink(img, thumbSide)
	for q := 75; q >= 20; q -= 15 {
		var b bytes.Buffer
		if jpeg.Encode(&b, small, &jpeg.Options{Quality: q}) == nil && b.Len() <= attach.MaxThumbnail {
			a.Thumbnail = b.Bytes()
			return
		}
	}
}

// shrink scales img down so that its longer side is at most side pixels,
// averaging the source pixels each target pixel covers.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if w >= h && w > side {
		tw, th = side, max(1, h*side/w)
	} else if h > w && h > side {
		tw, th = max(1, w*side/h), side
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := 0; y < th; y++ {
		y0, y1 := b.Min.Y+y*h/th, b.Min.Y+max((y+1)*h/th, y*h/th+1)
		for x := 0; x < tw; x++ {
			x0, x1 := b.Min.X+x*w/tw, b.Min.X+max((x+1)*w/tw, x*w/tw+1)
			var r, g, bl, al, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := img.At(sx, sy).RGBA()
					r, g, bl, al, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), al+uint64(ca), n+1
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), uint8(al / n >> 8)})
		}
	}
	return out
}

// Thumbnail returns the JPEG thumbnail of the file of message id, or nil
// if the sender attached none.
func (c *Client) Thumbnail(ctx context.Context, id int64) ([]byte, error) {
	_, _, a, err := c.fileMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	return a.Thumbnail, nil
}
