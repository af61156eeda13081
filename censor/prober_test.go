package censor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/memnet"
)

func randomFirstPacket(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 99))
	for {
		b := make([]byte, 300)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if censor.FETExemption(b) == censor.NotExempt {
			return b
		}
	}
}

func serveWeb(t *testing.T, l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "<h1>a cover page</h1>")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// TestProberBlocksWhatAnswersUnlikeAWebServer: a proxy that hangs up on
// unauthenticated bytes is blocked once its recorded first packet is
// replayed; a server that answers like the reference web server is not.
func TestProberBlocksWhatAnswersUnlikeAWebServer(t *testing.T) {
	clk := censor.NewFakeClock(time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC))
	e := censor.New(censor.Config{Clock: clk, Seed: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}})
	n := memnet.New(e)
	proberHost := n.Host(netip.MustParseAddr("198.18.1.1"))
	ref, _ := n.Host(netip.MustParseAddr("198.18.1.2")).Listen("tcp", ":80")
	serveWeb(t, ref)
	proxy := netip.MustParseAddrPort("198.18.70.1:8388")
	web := netip.MustParseAddrPort("198.18.70.2:443")
	pl, _ := n.Host(proxy.Addr()).Listen("tcp", proxy.String())
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() { c.Read(make([]byte, 1024)); c.Close() }() // fails auth, hangs up
		}
	}()
	wl, _ := n.Host(web.Addr()).Listen("tcp", web.String())
	serveWeb(t, wl)

	p := &censor.Prober{
		Dial: func(ctx context.Context, ep netip.AddrPort) (net.Conn, error) {
			return proberHost.DialContext(ctx, "tcp", ep.String())
		},
		Reference: func(ctx context.Context) (net.Conn, error) {
			return proberHost.DialContext(ctx, "tcp", ref.Addr().String())
		},
		Wait: 300 * time.Millisecond, Tolerance: 200 * time.Millisecond, RecordsPerEndpoint: 2,
	}
	e.Add(p)
	client := n.Host(netip.MustParseAddr("198.18.0.10"))
	for i, ep := range []netip.AddrPort{proxy, web, proxy, web} {
		c, err := client.Dial("tcp", ep.String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(randomFirstPacket(uint64(i)))
		c.Close()
	}
	clk.Advance(571 * time.Hour)
	blocked := e.BlockedEndpoints()
	for _, r := range p.Results() {
		t.Logf("%s %-14s target %s %dB %v | web %s %dB %v | %s", r.Endpoint, r.Kind, r.Target.End, len(r.Target.Data),
			r.Target.After.Round(time.Millisecond), r.Reference.End, len(r.Reference.Data), r.Reference.After.Round(time.Millisecond), r.Differs)
	}
	if got := len(p.Results()); got != 12 {
		t.Errorf("%d probes run, want 12 (3 per recorded packet)", got)
	}
	if !slices.Contains(blocked, proxy) {
		t.Errorf("proxy %s not blocked", proxy)
	}
	if slices.Contains(blocked, web) {
		t.Errorf("web-like server %s blocked", web)
	}
	if _, err := client.DialContext(ctxTimeout(t, 50*time.Millisecond), "tcp", proxy.String()); err == nil {
		t.Errorf("dial to the blocked proxy succeeded")
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestProbeDelays: delays start at 0.28 s, more than half fall within a
// minute, none beyond 570 h (IMC 2020).
func TestProbeDelays(t *testing.T) {
	clk := censor.NewFakeClock(time.Unix(0, 0))
	e := censor.New(censor.Config{Clock: clk, Seed: 2})
	var at []time.Duration
	p := &censor.Prober{
		Dial: func(ctx context.Context, ep netip.AddrPort) (net.Conn, error) {
			at = append(at, clk.Now().Sub(time.Unix(0, 0)))
			return nil, fmt.Errorf("no network in this test")
		},
		Reference:          func(ctx context.Context) (net.Conn, error) { return nil, fmt.Errorf("none") },
		RecordsPerEndpoint: 1,
	}
	e.Add(p)
	for i := 0; i < 1000; i++ {
		f, _ := e.Open(censor.FlowKey{Client: netip.MustParseAddrPort("10.0.0.1:1"),
			Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 443)})
		f.Data(censor.ClientToServer, randomFirstPacket(uint64(i)))
	}
	clk.Advance(571 * time.Hour)
	if len(at) != 3000 {
		t.Fatalf("%d probes, want 3000", len(at))
	}
	within := 0
	for _, d := range at {
		if d < 280*time.Millisecond || d > 570*time.Hour {
			t.Fatalf("delay %v outside [0.28 s, 570 h]", d)
		}
		if d <= time.Minute {
			within++
		}
	}
	share := float64(within) / float64(len(at))
	t.Logf("probe delays: %.1f%% within a minute, min %v, max %v", 100*share, slices.Min(at), slices.Max(at).Round(time.Minute))
	if share <= 0.5 || share > 0.6 {
		t.Errorf("%.3f of delays within a minute, want just over half", share)
	}
}

// TestEnumerationBlocksEveryLearnedRelay: 30 fake clients each get a slice
// of 3 relays out of 40; everything they learn is blocked, the rest is not.
func TestEnumerationBlocksEveryLearnedRelay(t *testing.T) {
	clk := censor.NewFakeClock(time.Unix(0, 0))
	e := censor.New(censor.Config{Clock: clk})
	var relays []netip.AddrPort
	for i := 0; i < 40; i++ {
		relays = append(relays, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 40, byte(i)}), 443))
	}
	en := &censor.Enumerator{Clients: 30, Interval: time.Minute,
		Ask: func(ctx context.Context, i int) ([]netip.AddrPort, error) {
			h := (i * 7919) % 37 // each client's slice, as a hash of its identity would pick
			return relays[h : h+3], nil
		}}
	e.Add(en)
	clk.Advance(10 * time.Minute)
	if n := len(en.Learned()); n == 0 || n > 33 {
		t.Fatalf("after 11 clients learned %d relays", n)
	}
	clk.Advance(time.Hour)
	learned := en.Learned()
	for _, r := range relays {
		if got, want := e.EndpointBlocked(r), slices.Contains(learned, r); got != want {
			t.Errorf("relay %s: blocked %v, learned %v", r, got, want)
		}
	}
	t.Logf("30 fake clients learned %d of %d relays (%.0f%%)", len(learned), len(relays), 100*float64(len(learned))/float64(len(relays)))
}
