package server_test

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/wire"
)

// floodDuration is how long TestFloodHonestClientConnects floods. The
// issue's figure is 30 s:
//
//	go test ./server/ -run TestFloodHonestClientConnects -flood.duration=30s -v
var floodDuration = flag.Duration("flood.duration", 4*time.Second, "how long the flood test's attacker floods")

// Environment of the flooder process (see TestMain).
const (
	envFloodTarget   = "SAMIZDAT_FLOOD_TARGET"
	envFloodKey      = "SAMIZDAT_FLOOD_KEY"
	envFloodDuration = "SAMIZDAT_FLOOD_DURATION"
)

// runFlooder is the attacker process: as many workers as it likes dial the
// target over IPv6 and run handshakes as fast as they can, with first
// messages stamped at the far edge of the replay window (the replay-cache
// flood), until the duration ends. It prints its counts.
func runFlooder() int {
	pub, err := securechan.ParseServerPublic(os.Getenv(envFloodKey))
	d, err2 := time.ParseDuration(os.Getenv(envFloodDuration))
	if err != nil || err2 != nil {
		fmt.Println("ERR", err, err2)
		return 1
	}
	target := os.Getenv(envFloodTarget)
	_, dev, _ := ed25519.GenerateKey(nil)
	var attempts, handshakes atomic.Uint64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(end) {
				attempts.Add(1)
				conn, err := net.DialTimeout("tcp", target, time.Second)
				if err != nil {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				sc, err := securechan.Client(ctx, conn, securechan.ClientConfig{ServerPublic: pub, DeviceKey: dev,
					Now: func() time.Time { return time.Now().Add(securechan.DefaultReplayWindow - time.Second) }})
				cancel()
				if err == nil {
					handshakes.Add(1)
					sc.Close()
				}
				conn.Close()
			}
		})
	}
	wg.Wait()
	fmt.Printf("FLOOD attempts=%d handshakes=%d\n", attempts.Load(), handshakes.Load())
	return 0
}

// TestFloodHonestClientConnects: an attacker process floods the server
// with handshakes from one IPv6 /64 (each connection from ::1 is given a
// distinct address of 2001:db8:0:1::/64 by the listener, since the host has
// no such addresses) while an honest client from elsewhere (127.0.0.1)
// connects again and again. Every honest connection must succeed; the
// connect-time p50 and p99 are printed.
func TestFloodHonestClientConnects(t *testing.T) {
	if testing.Short() {
		t.Skip("the flood test runs for -flood.duration")
	}
	var n atomic.Int64
	next := func(remote net.Addr) net.Addr {
		i := n.Add(1)
		if a, ok := remote.(*net.TCPAddr); ok && a.IP.To4() == nil {
			return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:0:1:%x:%x::1", i>>16&0xffff, i&0xffff)), Port: a.Port}
		}
		return &net.TCPAddr{IP: net.ParseIP("2001:db8:0:2::1"), Port: 1}
	}
	ts := startServerOn(t, "tcp", "[::]:0", next, func(c *server.Config) { c.RateLimits = server.DefaultRateLimits })
	_, port, _ := net.SplitHostPort(ts.addr)

	flooder := e2etest.StartSelf(t, envFloodTarget+"=[::1]:"+port, envFloodKey+"="+ts.pub.String(),
		envFloodDuration+"="+floodDuration.String())

	honest := *ts
	honest.addr = "127.0.0.1:" + port
	time.Sleep(200 * time.Millisecond) // let the flood start
	var times []time.Duration
	failed := 0
	end := time.Now().Add(*floodDuration - 200*time.Millisecond)
	for time.Now().Before(end) {
		start := time.Now()
		c, err := tryDial(&honest, newIdentity(newAccount()))
		if err == nil {
			if _, err = c.tryCall(&wire.ClientHello{MinVersion: 1, MaxVersion: 1}); err == nil {
				times = append(times, time.Since(start))
			}
			c.sc.Close()
		}
		if err != nil {
			failed++
			t.Logf("honest connect failed: %v", err)
		}
		// Four connects a second: under the per-address connection
		// rate (5/s), as an honest client must be.
		time.Sleep(250 * time.Millisecond)
	}
	if err := flooder.Wait(t, *floodDuration+time.Minute); err != nil {
		t.Fatalf("flooder: %v\n%s", err, flooder.Stderr.String())
	}
	summary := flooder.LineAfter("FLOOD ")
	if summary == "" {
		t.Fatalf("flooder printed %q", flooder.Stdout.String())
	}
	if failed > 0 || len(times) == 0 {
		t.Fatalf("%d of %d honest connects failed during the flood", failed, failed+len(times))
	}
	slices.Sort(times)
	pct := func(p float64) time.Duration { return times[min(len(times)-1, int(float64(len(times))*p))] }
	msg := fmt.Sprintf("flood %v from one /64: %s; honest client: %d connects, none failed, connect p50 %v p99 %v max %v; server refused %d connections by rate, %d handshakes failed",
		*floodDuration, summary, len(times), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond),
		times[len(times)-1].Round(time.Microsecond), ts.metrics.RateLimited.Load(), ts.metrics.HandshakesFailed.Load())
	t.Log(msg)
	fmt.Println(msg)
}
