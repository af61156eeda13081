package tlsws

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	utls "github.com/refraction-networking/utls"
)

// The ClientHello the dialer sends is built from hellos captured from the
// installed Chromium (Debian's chromium 156 when last refreshed), kept in
// chrome_hello_fixture.txt with their JA4 and JA3N. Refresh with
//
//	go test ./transport/tlsws -run TestChromeHelloLive -update-chrome-hello
//
// (it runs headless Chromium against a local TLS listener that records
// every ClientHello). Two hellos: a page load (ALPN h2, http/1.1, with
// ALPS) and the connection Chrome opens for a WebSocket (ALPN http/1.1,
// no ALPS). uTLS's Fingerprinter turns each into a ClientHelloSpec; keys,
// GREASE values, the GREASE ECH payload and the extension order are drawn
// afresh for every connection, as Chrome does.
//
//go:embed chrome_hello_fixture.txt
var chromeFixture string

// chromeHellos returns the fixture's page-load and WebSocket hellos
// (handshake messages), in that order.
func chromeHellos() (page, ws []byte, err error) {
	var hellos [][]byte
	for _, line := range strings.Split(chromeFixture, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			return nil, nil, fmt.Errorf("tlsws: the Chrome hello fixture is not hex: %w", err)
		}
		hellos = append(hellos, b)
	}
	if len(hellos) != 2 {
		return nil, nil, errors.New("tlsws: the Chrome hello fixture must hold two hellos (page load, WebSocket)")
	}
	return hellos[0], hellos[1], nil
}

// specFromHello turns a captured hello into a fresh uTLS spec.
func specFromHello(hello []byte) (utls.ClientHelloSpec, error) {
	record := append([]byte{0x16, 0x03, 0x01, byte(len(hello) >> 8), byte(len(hello))}, hello...)
	f := utls.Fingerprinter{AllowBluntMimicry: true} // keeps 0xca34 (trust anchor IDs) as captured
	spec, err := f.RawClientHello(record)
	if err != nil {
		return utls.ClientHelloSpec{}, fmt.Errorf("tlsws: reading the captured Chrome hello: %w", err)
	}
	for _, e := range spec.Extensions {
		switch e := e.(type) {
		case *utls.KeyShareExtension:
			// The captured key shares are Chromium's public keys: drop
			// them so that uTLS generates ours (it keeps any share with
			// data). The GREASE share keeps its one byte.
			for i := range e.KeyShares {
				if !isGREASE(uint16(e.KeyShares[i].Group)) {
					e.KeyShares[i].Data = nil
				}
			}
		case *utls.SignatureAlgorithmsExtension:
			// Chromium now sends a GREASE signature algorithm, random per
			// connection; uTLS does not re-GREASE this list, so we do.
			for i, s := range e.SupportedSignatureAlgorithms {
				if isGREASE(uint16(s)) {
					e.SupportedSignatureAlgorithms[i] = utls.SignatureScheme(randomGREASE())
				}
			}
		case *utls.SNIExtension:
			e.ServerName = "" // the dialer's Config.ServerName
		}
	}
	spec.Extensions = utls.ShuffleChromeTLSExtensions(spec.Extensions)
	return *spec, nil
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// randomGREASE is one of the 16 GREASE values (RFC 8701), uniformly.
func randomGREASE() uint16 {
	var b [1]byte
	rand.Read(b[:])
	n := uint16(b[0]&0x0f)<<4 | 0x0a
	return n<<8 | n
}
