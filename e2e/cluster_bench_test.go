package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// latDevice is a device of its own account, speaking the wire protocol.
type latDevice struct {
	s        *client.Session
	id       wire.DeviceID
	delivers chan *wire.Deliver
}

func dialLatDevice(t testing.TB, ctx context.Context, link client.ServerLink) *latDevice {
	t.Helper()
	_, acct, _ := ed25519.GenerateKey(rand.Reader)
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	var ak wire.AccountKey
	var dk wire.DeviceKey
	copy(ak[:], acct.Public().(ed25519.PublicKey))
	copy(dk[:], dev.Public().(ed25519.PublicKey))
	d := &latDevice{id: sha256.Sum256(dk[:]), delivers: make(chan *wire.Deliver, 1024)}
	nc, err := dialTCP(ctx, link.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	onFrame := func(f wire.Frame) (bool, error) {
		if m, ok := f.Msg.(*wire.Deliver); ok {
			d.delivers <- m
			return true, nil
		}
		return false, nil
	}
	d.s, err = client.Handshake(ctx, nc, client.SessionConfig{ServerPublic: link.Key, DeviceKey: dev, Padding: securechan.PadToMultiple(256), OnFrame: onFrame})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.s.End(context.Canceled) }) // End(nil) would close twice
	if _, err := d.s.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.s.Call(ctx, &wire.RegisterDevice{AccountKey: ak, DeviceCert: client.SignDevice(acct, dk)}); err != nil {
		t.Fatal(err)
	}
	return d
}

// BenchmarkClusterLatency measures the time from a Send to the recipient's
// Deliver, for a recipient on the sender's node and one on another node
// (the bus's added latency), one message at a time (docs/benchmarks.md,
// "Several nodes"). One iteration is the whole measurement: run it with
// -benchtime=1x.
func BenchmarkClusterLatency(b *testing.B) {
	for b.Loop() {
		clusterLatency(b)
	}
}

func clusterLatency(t testing.TB) {
	nodes, _ := startCluster(t, t.TempDir(), 2, true)
	n0, n1 := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l0, _ := client.ParseServerLink(n0.link)
	l1, _ := client.ParseServerLink(n1.link)
	sender := dialLatDevice(t, ctx, l0)
	same, cross := dialLatDevice(t, ctx, l0), dialLatDevice(t, ctx, l1)
	for _, d := range []*latDevice{same, cross} {
		if _, err := d.s.Call(ctx, &wire.Subscribe{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second) // past the bus's resync delay after Subscribe
	// n per recipient, paced under the real server's 50 requests/s per device.
	const n = 300
	lat := map[string][]time.Duration{}
	for i := range 2 * n {
		to, name := same, "same node"
		if i%2 == 1 {
			to, name = cross, "cross node"
		}
		time.Sleep(25 * time.Millisecond)
		var id wire.MsgID
		rand.Read(id[:])
		start := time.Now()
		if _, err := sender.s.Call(ctx, &wire.Send{MsgID: id, Kind: wire.KindApplication, Recipients: []wire.DeviceID{to.id}, Payload: make([]byte, 256)}); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-to.delivers:
			lat[name] = append(lat[name], time.Since(start))
			to.s.Call(ctx, &wire.AckDelivery{UpToSeq: d.Seq})
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d to the %s recipient not delivered within 10s", i, name)
		}
	}
	for _, name := range []string{"same node", "cross node"} {
		l := lat[name]
		slices.Sort(l)
		t.Logf("%-10s %d messages: p50 %v p90 %v p99 %v max %v", name, len(l), l[len(l)/2], l[len(l)*9/10], l[len(l)*99/100], l[len(l)-1])
	}
}
