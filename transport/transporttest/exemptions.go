package transporttest

import (
	"bytes"
	"context"
	"io"
	"math/bits"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// Exemptions records which of the exemption rules of "How the Great Firewall
// of China Detects and Blocks Fully Encrypted Traffic" (Wu et al., USENIX
// Security 2023, Algorithm 1) a connection's first data packet meets. The
// GFW left a flow alone if ANY rule held; otherwise it blocked it with
// probability about 26%.
type Exemptions struct {
	PopcountPerByte float64 // average set bits per byte

	LowPopcount   bool // Ex1: popcount per byte <= 3.4
	HighPopcount  bool // Ex1: popcount per byte >= 4.6
	FirstSix      bool // Ex2: the first 6 bytes are printable ASCII (0x20-0x7e)
	HalfPrintable bool // Ex3: more than 50% of the bytes are printable
	Contiguous20  bool // Ex4: more than 20 contiguous printable bytes
	TLSLike       bool // Ex5: starts [\x16-\x17] \x03 [\x00-\x09], a TLS record header
	HTTPLike      bool // Ex5: starts "GET ", "PUT ", "POST " or "HEAD "
}

// CheckExemptions evaluates the rules on a first packet.
func CheckExemptions(p []byte) Exemptions {
	var e Exemptions
	if len(p) == 0 {
		return e
	}
	ones, printable, run, longest := 0, 0, 0, 0
	for _, b := range p {
		ones += bits.OnesCount8(b)
		if isPrintable(b) {
			printable++
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	e.PopcountPerByte = float64(ones) / float64(len(p))
	e.LowPopcount = e.PopcountPerByte <= 3.4
	e.HighPopcount = e.PopcountPerByte >= 4.6
	e.FirstSix = len(p) >= 6 && allPrintable(p[:6])
	e.HalfPrintable = 2*printable > len(p)
	e.Contiguous20 = longest > 20
	e.TLSLike = len(p) >= 3 && p[0] >= 0x16 && p[0] <= 0x17 && p[1] == 0x03 && p[2] <= 0x09
	for _, m := range []string{"GET ", "PUT ", "POST ", "HEAD "} {
		if bytes.HasPrefix(p, []byte(m)) {
			e.HTTPLike = true
		}
	}
	return e
}

// Exempt reports whether any rule holds.
func (e Exemptions) Exempt() bool {
	return e.LowPopcount || e.HighPopcount || e.FirstSix || e.HalfPrintable || e.Contiguous20 || e.TLSLike || e.HTTPLike
}

// String lists the rules met, e.g. "Ex4 Ex5(TLS)", or "none".
func (e Exemptions) String() string {
	var met []string
	for _, r := range []struct {
		ok   bool
		name string
	}{
		{e.LowPopcount, "Ex1(popcount<=3.4)"}, {e.HighPopcount, "Ex1(popcount>=4.6)"},
		{e.FirstSix, "Ex2(first 6 printable)"}, {e.HalfPrintable, "Ex3(>50% printable)"},
		{e.Contiguous20, "Ex4(>20 contiguous printable)"}, {e.TLSLike, "Ex5(TLS)"}, {e.HTTPLike, "Ex5(HTTP)"},
	} {
		if r.ok {
			met = append(met, r.name)
		}
	}
	if len(met) == 0 {
		return "none"
	}
	return strings.Join(met, " ")
}

func isPrintable(b byte) bool { return b >= 0x20 && b <= 0x7e }

func allPrintable(p []byte) bool {
	for _, b := range p {
		if !isPrintable(b) {
			return false
		}
	}
	return true
}

// FirstFlight returns the bytes a dialer sends before it hears anything
// back: it points the dialer (built by newDialer for a TCP address) at a
// silent TCP listener and records what arrives until the client pauses for
// 300 ms. For TLS transports that is the ClientHello.
func FirstFlight(t testing.TB, newDialer func(addr string) transport.Dialer) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dialDone := make(chan struct{})
	go func() {
		defer close(dialDone)
		if c, err := newDialer(ln.Addr().String()).Dial(ctx); err == nil {
			c.Close()
		}
	}()
	defer func() { cancel(); <-dialDone }()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []byte
	buf := make([]byte, 64<<10)
	for len(got) < 1<<20 {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if err != io.EOF && len(got) == 0 {
				t.Fatalf("the dialer sent nothing: %v", err)
			}
			break
		}
	}
	return got
}
