package relay

import (
	"testing"

	"rsc.io/qr"

	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// TestShapeProfileLinkQR measures what a relay's opening profile
// (tlsws.ParamShape) adds to its relay link and QR code
// (docs/spec/transports.md, "The profile of the relay's own cover site").
func TestShapeProfileLinkQR(t *testing.T) {
	cfg := tlsws.DialConfig{Addr: "203.0.113.7:443", Host: "relay-a.example.org", Secret: make([]byte, 32), Pin: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}
	var sizes [2]int
	for i, shape := range []*tlsws.ShapeProfile{nil, (*tlsws.ShapeProfile)(nil).ForLink()} {
		cfg.Shape = shape
		l, err := Link(cfg.Spec(), "relay in Riga")
		if err != nil {
			t.Fatal(err)
		}
		code, err := qr.Encode(l.String(), qr.M)
		if err != nil {
			t.Fatalf("QR code of the link (%d characters): %v", len(l.String()), err)
		}
		sizes[i] = code.Size
		t.Logf("profile %v: link %d characters, QR code %dx%d modules (level M)", shape != nil, len(l.String()), code.Size, code.Size)
	}
	// Version 40 is 177 modules; a phone still reads 117 (version 25) on
	// a screen.
	if sizes[1] > 117 {
		t.Errorf("the relay link with its profile needs a %d-module QR code, over 117", sizes[1])
	}
}
