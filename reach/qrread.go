package reach

import (
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"rsc.io/qr"
)

// EncodeQR encodes text as a QR code that DecodeQR, the scanner of the
// browser app, reads back from a clean picture of it. rsc.io/qr chooses
// one layout per level, and gozxing's detector misses some of them at any
// size (an invite link of 358 characters at level M, version 12, was not
// found at 3, 4 or 5 pixels a module; in an offline check 7 of 200 random
// links of that length failed at 4): so the levels are tried in turn, M
// (the usual) first, then Q, L and H, and the first one read back wins.
// If none is, the code at level M is returned.
func EncodeQR(text string) (*qr.Code, error) {
	var first *qr.Code
	for _, level := range []qr.Level{qr.M, qr.Q, qr.L, qr.H} {
		code, err := qr.Encode(text, level)
		if err != nil {
			if first != nil {
				break
			}
			return nil, fmt.Errorf("reach: making QR code: %w; use a shorter link", err)
		}
		if first == nil {
			first = code
		}
		if DecodeQR(qrPicture(code, 4)) == text {
			return code, nil
		}
	}
	return first, nil
}

// qrPicture draws code at scale pixels a module with the standard quiet
// zone of 4 modules.
func qrPicture(code *qr.Code, scale int) *image.Gray {
	side := (code.Size + 8) * scale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			v := uint8(255)
			if code.Black(x/scale-4, y/scale-4) {
				v = 0
			}
			img.Pix[y*side+x] = v
		}
	}
	return img
}

// DecodeQR returns the text of the QR code img shows, or "". The decoding
// is gozxing's QR reader; a panic in the decoder (on a frame it did not
// expect) is a picture without a code, so a camera frame cannot end the
// program that scans it.
func DecodeQR(img image.Image) (text string) {
	defer func() {
		if recover() != nil {
			text = ""
		}
	}()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return ""
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return ""
	}
	return res.GetText()
}
