package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/wire"
)

// BenchmarkClusterFanout measures a channel's fanout with its subscribers all
// on the posting node against the same number spread over three nodes
// (each post then crosses the bus once per other node, and each node reads
// it from the database). The subscribers dial from many 127.0.0.x source
// addresses: the real server admits 5 connections per second per address
// after a burst of 50. One iteration is the whole measurement: run it with
// -benchtime=1x (docs/benchmarks.md, "Several nodes").
func BenchmarkClusterFanout(b *testing.B) {
	for b.Loop() {
		clusterFanout(b)
	}
}

func clusterFanout(t testing.TB) {
	const subs = 3000
	nodes, _ := startCluster(t, t.TempDir(), 3, false)
	links := make([]client.ServerLink, 3)
	for i, n := range nodes {
		links[i], _ = client.ParseServerLink(n.link)
	}
	for _, rate := range []float64{5, 20} {
		for _, spread := range []int{1, 3} {
			fanoutRound(t, links[:spread], subs, int(10*rate), rate)
		}
	}
}

func fanoutRound(t testing.TB, links []client.ServerLink, subs, posts int, rate float64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	desc, _ := channel.NewDescriptor(owner, "fanout", uint64(time.Now().Unix()))
	pub, err := client.DialChannels(ctx, dialTCP, links[0], client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.CreateChannel(ctx, desc.Encode()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	arrived := make([][]time.Time, posts+1) // by seq
	conns := make([]*client.ChannelConn, subs)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range subs {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 1+byte(i/40), byte(1+i%40))}
		dial := func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: src}
			return d.DialContext(ctx, "tcp", addr)
		}
		c, err := client.DialChannels(ctx, dial, links[i%len(links)], client.NewReaderKey(), func(p *wire.ChannelPush) {
			now := time.Now()
			mu.Lock()
			for _, b := range p.Posts {
				if _, seq, ok := channel.PeekSeq(b); ok && seq >= 1 && int(seq) <= posts {
					arrived[seq] = append(arrived[seq], now)
				}
			}
			mu.Unlock()
		})
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		conns[i] = c
		if err := c.Subscribe(ctx, wire.ChannelID(desc.ID())); err != nil {
			t.Fatal(err)
		}
	}
	sent := make([]time.Time, posts+1)
	start := time.Now()
	for seq := 1; seq <= posts; seq++ {
		due := start.Add(time.Duration(float64(seq-1) / rate * float64(time.Second)))
		time.Sleep(time.Until(due))
		p := &channel.Post{Channel: desc.ID(), Seq: uint64(seq), Time: uint64(time.Now().UnixMilli()), Kind: channel.KindText, Body: make([]byte, 100)}
		for i := range p.Body {
			p.Body[i] = 'x'
		}
		p.Sign(owner, nil)
		sent[seq] = time.Now()
		if err := pub.Post(ctx, p.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	total := subs * posts
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range arrived {
			n += len(a)
		}
		return n
	}
	e2etest.WaitFor(60*time.Second, func() bool { return count() >= total })
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	var last time.Time
	for seq := 1; seq <= posts; seq++ {
		for _, a := range arrived[seq] {
			lat = append(lat, a.Sub(sent[seq]))
			if a.After(last) {
				last = a
			}
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no deliveries")
	}
	t.Logf("fanout over %d node(s): %d subscribers, %d posts at %.0f/s: %d of %d deliveries, %.0f deliveries/s, latency from send p50 %v p99 %v max %v",
		len(links), subs, posts, rate, len(lat), total, float64(len(lat))/last.Sub(start).Seconds(),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
