package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/wire"
)

// TestBadInputFromAnotherProcess complements server/badinput_test.go (in
// process) across processes: while a good client (the load generator and
// its receiver, two other processes) keeps sending and receiving through
// a real 'samizdat server' process, this test process throws garbage
// before the handshake, and random, mutated, oversize and wrong-direction
// frames after it. Every bad session gets Error answers and is closed by
// the server; the good client's every message is acknowledged and
// delivered; the server process is still up and serves a new session.
func TestBadInputFromAnotherProcess(t *testing.T) {
	dir, srv := tempServer(t)
	link, err := client.ParseServerLink(srv.link)
	if err != nil {
		t.Fatal(err)
	}
	recv := startLoadRecv(t, srv.link, dir, "", 1, 20*time.Second)
	const good = 150
	send := startLoadSend(t, srv.link, recv.idsPath, dir, 1, good, 50, 20*time.Second)

	seeds := validFrames()
	var mu sync.Mutex
	codes := map[wire.ErrorCode]int{}
	var wg sync.WaitGroup
	// The real server allows 50 connections per address in a burst
	// (DefaultRateLimits); the good client uses 3 of them.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range 10 {
				if i%4 == 0 {
					servertest.GarbageBeforeHandshake(t, srv.addr, rng, 15*time.Second)
					continue
				}
				got := badFrames(t, link, rng, seeds)
				mu.Lock()
				for _, c := range got {
					codes[c]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("bad sessions were answered with: %v", codes)
	if codes[wire.CodeBadRequest] == 0 || codes[wire.CodeTooLarge] == 0 {
		t.Errorf("want BadRequest and TooLarge answers, got %v", codes)
	}

	_, acked := send.finish(t, 60*time.Second, good)
	logs := []string{recv.log}
	if !e2etest.WaitFor(20*time.Second, func() bool { return undelivered(t, logs, acked) == 0 }) {
		t.Fatalf("%d of the good client's %d messages were not delivered", undelivered(t, logs, acked), good)
	}
	recv.Stop(t, 15*time.Second)
	if !srv.Running() {
		t.Fatalf("the server process exited; stderr:\n%s", srv.Stderr.String())
	}
	// A new session still works.
	sc, nc := dialSecure(t, link)
	defer nc.Close()
	if got := roundTrip(t, sc, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version}); got.Type() != wire.TypeServerHello {
		t.Fatalf("hello answered with %v", got.Type())
	}
	if got := roundTrip(t, sc, &wire.Ping{}); got.Type() != wire.TypePong {
		t.Fatalf("ping answered with %v", got.Type())
	}
	if strings.Contains(srv.Stderr.String(), "panic") {
		t.Errorf("the server logged a panic:\n%s", srv.Stderr.String())
	}
}

// validFrames are well-formed requests to mutate.
func validFrames() [][]byte {
	var rcpt wire.DeviceID
	rand.Read(rcpt[:])
	var seeds [][]byte
	for i, m := range []wire.Message{
		&wire.Ping{}, &wire.ClientHello{MinVersion: 1, MaxVersion: 1},
		&wire.Send{Kind: wire.KindApplication, Recipients: []wire.DeviceID{rcpt}, Payload: []byte("x")},
		&wire.Send{Kind: wire.KindCommit, Epoch: 3, Payload: []byte("c")},
		&wire.RegisterDevice{}, &wire.AckDelivery{UpToSeq: 7}, &wire.Subscribe{},
		&wire.PublishKeyPackages{KeyPackages: [][]byte{{1, 2, 3}}},
	} {
		b, err := wire.Encode(wire.Frame{RequestID: uint32(i + 1), Msg: m})
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func dialSecure(t *testing.T, link client.ServerLink) (*securechan.Conn, net.Conn) {
	t.Helper()
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	nc, err := net.Dial("tcp", link.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := securechan.Client(ctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: dev, MaxMessageSize: 2 * wire.MaxFrame})
	if err != nil {
		nc.Close()
		t.Fatalf("handshake: %v", err)
	}
	return sc, nc
}

func roundTrip(t *testing.T, sc *securechan.Conn, m wire.Message) wire.Message {
	t.Helper()
	b, _ := wire.Encode(wire.Frame{RequestID: 77, Msg: m})
	if err := sc.Send(b); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := sc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	return f.Msg
}

// badFrames opens a session, says hello half the time, sends bad frames
// and then one that is sure to break the protocol, and returns the Error
// codes it got. It fails the test if the server does
// not close the session within 10 s.
func badFrames(t *testing.T, link client.ServerLink, rng *mrand.Rand, seeds [][]byte) []wire.ErrorCode {
	sc, nc := dialSecure(t, link)
	defer nc.Close()
	if rng.IntN(2) == 0 {
		hello, _ := wire.Encode(wire.Frame{RequestID: 1 << 30, Msg: &wire.ClientHello{MinVersion: 1, MaxVersion: 1}})
		sc.Send(hello)
	}
	for range 1 + rng.IntN(8) {
		bad := servertest.BadFrame(rng, rng.IntN(servertest.BadFrameKinds), seeds)
		if sc.Send(bad) != nil {
			break // already closed by the server
		}
	}
	// A mutated frame may still be a well-formed request (a Send whose
	// recipient changed, say), which the server rightly answers without
	// closing. End every session with one frame that breaks the protocol
	// for certain, a message only servers send, so the close below is
	// owed.
	pong, _ := wire.Encode(wire.Frame{RequestID: 6, Msg: &wire.Pong{}})
	sc.Send(pong)
	var codes []wire.ErrorCode
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		b, err := sc.Recv()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("the server kept a session open 10 s after bad frames (answers so far: %v)", codes)
			}
			return codes
		}
		if f, err := wire.Decode(b); err == nil {
			if e, ok := f.Msg.(*wire.Error); ok {
				codes = append(codes, e.Code)
			}
		}
	}
}
