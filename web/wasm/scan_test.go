//go:build js && wasm

package main

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"rsc.io/qr"
)

// qrFrame draws text's QR code as a camera would see it: scale pixels a
// module, a quiet zone, in the middle of a larger grey frame.
func qrFrame(t testing.TB, text string, scale, w, h int) *image.RGBA {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	side := (code.Size + 8) * scale
	x0, y0 := (w-side)/2, (h-side)/2
	for y := range side {
		for x := range side {
			c := color.RGBA{255, 255, 255, 255}
			if mx, my := x/scale-4, y/scale-4; code.Black(mx, my) {
				c = color.RGBA{0, 0, 0, 255}
			}
			img.SetRGBA(x0+x, y0+y, c)
		}
	}
	return img
}

const testInvite = "samizdat://invite?v=1&name=erin&key=KD7B3-example-0123456789abcdefghijklmnopqrstuvwxyz&server=samizdat%3A%2F%2Fserver%3Fkey%3Dabc%26addr%3D127.0.0.1%3A4433"

// TestDecodeQR: a link's code in a frame reads back as the link; a frame
// without one, noise, and a frame of one colour read as "".
func TestDecodeQR(t *testing.T) {
	if got := decodeQR(qrFrame(t, testInvite, 4, 640, 480)); got != testInvite {
		t.Fatalf("decoded %q, want %q", got, testInvite)
	}
	noise := image.NewRGBA(image.Rect(0, 0, 320, 240))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(r.Uint32())
	}
	if got := decodeQR(noise); got != "" {
		t.Fatalf("noise decoded as %q", got)
	}
	if got := decodeQR(image.NewRGBA(image.Rect(0, 0, 64, 64))); got != "" {
		t.Fatalf("a black frame decoded as %q", got)
	}
}

// FuzzDecodeQR: any frame gives a text or "", never a panic that would end
// the page's program.
func FuzzDecodeQR(f *testing.F) {
	f.Add([]byte{0, 255, 0, 255}, uint8(2))
	f.Add(qrFrame(f, "x", 1, 40, 40).Pix, uint8(40))
	f.Fuzz(func(t *testing.T, pix []byte, w uint8) {
		if w == 0 || len(pix) < 4*int(w) {
			return
		}
		h := len(pix) / (4 * int(w))
		img := &image.RGBA{Pix: pix[:4*int(w)*h], Stride: 4 * int(w), Rect: image.Rect(0, 0, int(w), h)}
		decodeQR(img)
	})
}
