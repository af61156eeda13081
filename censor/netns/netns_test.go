package netns

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testenv"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/internal/testnet"
)

func needRoot(t *testing.T) {
	t.Helper()
	testenv.Require(t, Available(), "root with ip and nft for network namespaces", "run as root; apt-get install iproute2 nftables")
}

// TestInterceptorSeesOriginalDestination builds a client, the censor and a
// host; a flow from the client to the host's address is redirected to the
// interceptor, which learns the real destination, applies the engine
// (an IP blocklist for a second address) and relays the bytes.
func TestInterceptorSeesOriginalDestination(t *testing.T) {
	needRoot(t)
	open := netip.MustParseAddr("198.18.10.2")
	blocked := netip.MustParseAddr("198.18.10.3")
	topo, err := New([]NodeSpec{
		{Name: "alice", Role: Client, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}},
		{Name: "server", Role: Host, Addrs: []netip.Addr{open, blocked}},
	}, 15001)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{topo.CensorNS, topo.Nodes["alice"].NS, topo.Nodes["server"].NS}
	defer func() {
		if err := topo.Close(); err != nil {
			t.Error(err)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, n := range names {
			if strings.Contains(string(out), n) {
				t.Errorf("namespace %s left behind", n)
			}
		}
	}()

	ln, err := topo.Listen("server", "tcp4", "0.0.0.0:443")
	if err != nil {
		t.Fatal(err)
	}
	testnet.Serve(t, ln, testnet.Echo)

	e := censor.New(censor.Config{Seed: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}})
	e.Add(&censor.IPBlocklist{Stages: []censor.Stage{{Prefixes: []netip.Prefix{netip.PrefixFrom(blocked, 32)}}}})
	in, err := topo.StartInterceptor(e)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := topo.DialContext(ctx, "alice", "tcp4", netip.AddrPortFrom(open, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("GET / HTTP/1.1\r\n\r\n")
	testnet.MustEcho(t, c, msg) // through the interceptor
	c.Close()
	if n, _ := in.Flows(); n != 1 {
		t.Errorf("interceptor saw %d flows, want 1 (the redirect is not in place)", n)
	}

	// The blocklisted address: the SYN is "dropped" (the interceptor never
	// answers), so the client's read times out.
	c, err = topo.DialContext(ctx, "alice", "tcp4", netip.AddrPortFrom(blocked, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(msg)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, len(msg))); err == nil || !isTimeout(err) {
		t.Errorf("blocked address answered: %d bytes, %v", n, err)
	}
	c.Close()
	var sawBlock bool
	for _, ev := range e.Events() {
		if ev.Flow.Server == netip.AddrPortFrom(blocked, 443) && ev.Flow.Client.Addr() == netip.MustParseAddr("198.18.0.10") {
			sawBlock = true
		}
	}
	if !sawBlock {
		t.Errorf("engine events do not show the flow 198.18.0.10 -> %s:443: %v", blocked, e.Events())
	}

	// The censor's own dials (the prober's) are not redirected.
	pc, err := topo.DialContext(ctx, "", "tcp4", netip.AddrPortFrom(blocked, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	pc.Write(msg)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(pc, make([]byte, len(msg))); err != nil {
		t.Errorf("a dial from the censor namespace: %v", err)
	}
	pc.Close()
	if n, _ := in.Flows(); n != 2 {
		t.Errorf("interceptor saw %d flows, want 2", n)
	}

	// Address blocks in nftables: the client's SYN to the open address
	// goes unanswered (the dial times out, the interceptor sees nothing);
	// the censor's own dials still pass; Unblock lifts it.
	syn := func() error {
		sctx, scancel := context.WithTimeout(ctx, 700*time.Millisecond)
		defer scancel()
		c, err := topo.DialContext(sctx, "alice", "tcp4", netip.AddrPortFrom(open, 443).String())
		if err == nil {
			c.Close()
		}
		return err
	}
	for name, block := range map[string]func() error{
		"nets": func() error { return topo.BlockNets(netip.PrefixFrom(open, 32)) },
		"eps":  func() error { return topo.SetBlockedEndpoints([]netip.AddrPort{netip.AddrPortFrom(open, 443)}) },
	} {
		if err := block(); err != nil {
			t.Fatal(err)
		}
		before, _ := in.Flows()
		if err := syn(); err == nil {
			t.Errorf("%s: a dial to a blocked address connected", name)
		}
		if after, _ := in.Flows(); after != before {
			t.Errorf("%s: the interceptor saw a flow to a blocked address", name)
		}
		pc, err := topo.DialContext(ctx, "", "tcp4", netip.AddrPortFrom(open, 443).String())
		if err != nil {
			t.Errorf("%s: the censor's own dial was blocked: %v", name, err)
		} else {
			pc.Close()
		}
		if err := topo.Unblock(); err != nil {
			t.Fatal(err)
		}
		if err := syn(); err != nil {
			t.Errorf("%s: after Unblock: %v", name, err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
