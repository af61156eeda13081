package server_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// TestBadInput throws garbage before the handshake, random and mutated
// frames after it, and oversize frames, from several connections, while a
// good client keeps sending and receiving: every bad session gets an Error
// (when it got past the handshake) and is closed, the good client sees every
// message it was acknowledged, in order, and the server still serves.
func TestBadInput(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.HandshakeTimeout = 2 * time.Second })
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca, cb := connect(t, ts, alice), connect(t, ts, bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)

	// Valid frames to mutate.
	var seeds [][]byte
	for i, m := range []wire.Message{
		&wire.Ping{}, app("x", bob.deviceID()),
		&wire.RegisterDevice{}, &wire.ClaimKeyPackages{AccountKey: bob.accountKey()},
		&wire.PublishKeyPackages{KeyPackages: [][]byte{{1, 2, 3}}}, &wire.AckDelivery{UpToSeq: 1},
		&wire.Send{MsgID: msgID(), Group: group(), Kind: wire.KindCommit, Epoch: 3, Recipients: []wire.DeviceID{bob.deviceID()}, Payload: []byte("c")},
	} {
		b, err := wire.Encode(wire.Frame{RequestID: uint32(i + 1), Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}

	stop := make(chan struct{})
	var goodWG sync.WaitGroup
	goodWG.Add(1)
	sent := 0
	go func() { // the good client
		defer goodWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := ca.tryCall(app(fmt.Sprintf("good %d", sent), bob.deviceID()))
			if err != nil {
				t.Errorf("good client: %v", err)
				return
			}
			if _, ok := r.(*wire.Ack); !ok {
				t.Errorf("good client got %v", r)
				return
			}
			sent++
		}
	}()

	var wg sync.WaitGroup
	errorsSeen := make(chan wire.ErrorCode, 1000)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 42))
			for i := range 25 {
				switch (w + i) % 5 {
				case 0: // garbage instead of a handshake
					servertest.GarbageBeforeHandshake(t, ts.addr, rng, 5*time.Second)
				default: // a handshake, maybe a hello, then bad frames
					if code, ok := badSession(ts, rng, seeds, i); ok {
						errorsSeen <- code
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	goodWG.Wait()
	close(errorsSeen)
	codes := map[wire.ErrorCode]int{}
	for c := range errorsSeen {
		codes[c]++
	}
	t.Logf("bad sessions answered with: %v; good client sent %d messages meanwhile", codes, sent)
	if codes[wire.CodeBadRequest] == 0 || codes[wire.CodeTooLarge] == 0 {
		t.Errorf("expected BadRequest and TooLarge answers, got %v", codes)
	}

	// Every acknowledged good message arrives, in order, exactly once.
	for i := range sent {
		d := cb.next()
		if string(d.Payload) != fmt.Sprintf("good %d", i) {
			t.Fatalf("delivery %d is %q", i, d.Payload)
		}
		if i%100 == 99 || i == sent-1 {
			cb.must(&wire.AckDelivery{UpToSeq: d.Seq}, wire.TypeOK)
		}
	}
	cb.none()
	// And the server still serves new sessions.
	connect(t, ts, newIdentity(newAccount())).must(&wire.Ping{}, wire.TypePong)
	if ts.metrics.Panics.Load() != 0 {
		t.Errorf("%d panics", ts.metrics.Panics.Load())
	}
}

// badSession opens a real session, sends one bad frame (after a hello half
// the time) and returns the Error code it got back.
func badSession(ts *testServer, rng *mrand.Rand, seeds [][]byte, i int) (wire.ErrorCode, bool) {
	id := newIdentity(newAccount())
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := securechan.Client(ctx, conn, securechan.ClientConfig{ServerPublic: ts.pub, DeviceKey: id.device, MaxMessageSize: 2 * wire.MaxFrame})
	if err != nil {
		return 0, false
	}
	defer sc.Close()
	if rng.IntN(2) == 0 {
		hello, _ := wire.Encode(wire.Frame{RequestID: 1 << 30, Msg: &wire.ClientHello{MinVersion: 1, MaxVersion: 1}})
		sc.Send(hello)
		if _, err := sc.Recv(); err != nil {
			return 0, false
		}
	}
	bad := servertest.BadFrame(rng, i, seeds)
	if err := sc.Send(bad); err != nil {
		return 0, false
	}
	// Read until the session ends; a mutated frame may still be valid, so
	// answers other than Error are possible, and then the close is ours.
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		b, err := sc.Recv()
		if err != nil {
			return 0, false
		}
		f, err := wire.Decode(b)
		if err != nil {
			return 0, false
		}
		if e, ok := f.Msg.(*wire.Error); ok {
			return e.Code, true
		}
		if f.Msg.Type() != wire.TypeDeliver {
			return 0, false // a valid request got a valid answer
		}
	}
}

// panicStore panics when asked about one account, to show that a panic in
// a handler closes only its own session.
type panicStore struct {
	server.Store
	account store.AccountID
}

func (p panicStore) DevicesOf(ctx context.Context, a store.AccountID) ([]store.Device, error) {
	if a == p.account {
		panic(errors.New("injected panic"))
	}
	return p.Store.DevicesOf(ctx, a)
}

// TestPanicClosesOnlyItsSession: a handler that panics is recovered; its
// session gets Error{Internal} and closes, and other sessions go on.
func TestPanicClosesOnlyItsSession(t *testing.T) {
	victim := newIdentity(newAccount())
	ts := startServer(t, nil)
	ts.stop(t)
	ts = startServerWith(t, panicStore{Store: ts.store, account: store.AccountID(sha(victim.account))}, nil, nil)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca, cb := connect(t, ts, alice), connect(t, ts, bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	e := ca.wantError(&wire.LookupAccount{AccountKey: victim.accountKey()}, wire.CodeInternal)
	_ = e
	<-ca.closed
	c2 := connect(t, ts, newIdentity(newAccount()))
	s := app("still here", bob.deviceID())
	c2.must(s, wire.TypeAck)
	if d := cb.next(); d.MsgID != s.MsgID {
		t.Fatal("wrong delivery")
	}
	if ts.metrics.Panics.Load() != 1 {
		t.Errorf("panics counter %d", ts.metrics.Panics.Load())
	}
}
