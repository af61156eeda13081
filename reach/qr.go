package reach

import (
	"strings"

	"rsc.io/qr"
)

// QRQuietZone is the margin, in modules, around a rendered QR code. The
// standard asks for 4; 2 is what terminal QR tools use and phones scan it.
const QRQuietZone = 2

// RenderQR renders text as a QR code for a terminal, two modules per
// character cell with Unicode half blocks (▀ ▄ █ and space), error
// correction level M (or the level EncodeQR picks). By default a block is drawn where the code is light,
// which suits the usual light-on-dark terminal; invert draws the dark
// modules instead (for dark-on-light terminals). Each line ends in "\n".
func RenderQR(text string, invert bool) (string, error) {
	code, err := EncodeQR(text)
	if err != nil {
		return "", err
	}
	return renderCode(code, invert), nil
}

func renderCode(code *qr.Code, invert bool) string {
	n := code.Size + 2*QRQuietZone
	// ink reports whether module (x, y) of the framed code gets a block.
	ink := func(x, y int) bool {
		if y >= n {
			return false // the padding row below an odd height is never inked
		}
		dark := code.Black(x-QRQuietZone, y-QRQuietZone)
		return dark == invert
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			switch top, bottom := ink(x, y), ink(x, y+1); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
