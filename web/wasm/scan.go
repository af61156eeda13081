//go:build js && wasm

package main

import (
	"context"
	"errors"
	"image"
	"syscall/js"

	"github.com/samizdat-project/samizdat/reach"
)

// Scanning a link's QR code (an invite, a channel's link): the page grabs
// frames from the camera (getUserMedia) or draws a picked photo on a
// canvas, and hands the pixels here; the decoding is gozxing's QR reader
// (docs/browser-client.md "Scanning a link").

// maxScanPixels bounds one frame: the page scales frames down to at most
// 1024 pixels a side.
const maxScanPixels = 1024 * 1024

// scanQR({pixels, width, height}) -> the text of the QR code in the RGBA
// frame (a Uint8ClampedArray of 4*width*height bytes), or "" if it shows
// none that could be read.
func (a *app) scanQR(_ context.Context, arg js.Value) (any, error) {
	w, h := intField(arg, "width"), intField(arg, "height")
	px := arg.Get("pixels")
	if w <= 0 || h <= 0 || w*h > maxScanPixels {
		return nil, errors.New("the picture to scan is empty or larger than 1024x1024 pixels; scale it down first")
	}
	if px.Type() != js.TypeObject || px.Get("length").Type() != js.TypeNumber || px.Get("length").Int() != 4*w*h {
		return nil, errors.New("the picture's pixels do not match its size")
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	js.CopyBytesToGo(img.Pix, px)
	return decodeQR(img), nil
}

// intField reads a number field of a JS object (0 if absent).
func intField(o js.Value, k string) int {
	v := o.Get(k)
	if v.Type() != js.TypeNumber {
		return 0
	}
	return v.Int()
}

// decodeQR returns the text of the QR code img shows, or "" (reach.DecodeQR).
func decodeQR(img image.Image) string { return reach.DecodeQR(img) }
