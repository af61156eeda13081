package censor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
)

// TestInterceptRealTCP runs the engine between real loopback TCP conns, the
// way the netns interceptor will: a clean flow is relayed byte for byte, an
// SNI-denylisted one is reset.
func TestInterceptRealTCP(t *testing.T) {
	backend := testnet.Listen(t)
	testnet.Serve(t, backend, testnet.Echo)
	front, _ := net.Listen("tcp", "127.0.0.1:0")
	defer front.Close()
	e := New(Config{Seed: 1})
	e.Add(&SNIDenylist{Names: []string{"telegram.org"}})
	go func() {
		for {
			c, err := front.Accept()
			if err != nil {
				return
			}
			key := FlowKey{netip.MustParseAddrPort(c.RemoteAddr().String()), netip.MustParseAddrPort(backend.Addr().String())}
			go e.Intercept(context.Background(), key, c, func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", backend.Addr().String())
			})
		}
	}()

	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	testnet.MustEcho(t, c, []byte("GET / HTTP/1.1\r\n\r\n")) // through the interceptor
	c.Close()

	c, _ = net.Dial("tcp", front.Addr().String())
	defer c.Close()
	c.Write(tlsHello(1, "telegram.org"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("denylisted flow: %v, want a reset", err)
	}
	t.Logf("denylisted flow ended with: %v", err)
}
