package cli

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport/direct"
)

// TestFactoryDialsThroughTheCandidatesProxy: a path with a proxy opens its
// TCP connection to the proxy, never straight to the server's address.
func TestFactoryDialsThroughTheCandidatesProxy(t *testing.T) {
	var atProxy, atServer atomic.Int32
	proxy := testnet.ServeTCP(t, func(c net.Conn) { atProxy.Add(1); c.Close() })
	server := testnet.ServeTCP(t, func(c net.Conn) { atServer.Add(1); c.Close() })
	p := NewPaths()
	defer p.Close()
	d, err := p.Factory(reach.Candidate{Spec: direct.Spec(server), Proxy: "socks5://" + proxy})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
	}
	if atProxy.Load() != 1 || atServer.Load() != 0 {
		t.Fatalf("dial with a proxy: %d connections at the proxy, %d at the server; want 1 and 0", atProxy.Load(), atServer.Load())
	}
}
