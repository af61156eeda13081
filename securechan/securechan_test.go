package securechan

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
)

// fixedClock is an injected clock tests can move.
type fixedClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seeded returns a deterministic randomness source for tests.
func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

type fixture struct {
	clock  *fixedClock
	key    *ServerKey
	server *Server
	device ed25519.PrivateKey
}

func newFixture(t testing.TB, cfg ServerConfig) *fixture {
	t.Helper()
	f := &fixture{clock: &fixedClock{t: time.Unix(1_700_000_000, 0)}}
	var err error
	f.key, err = GenerateServerKey(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Key = f.key
	cfg.Now = f.clock.Now
	f.server, err = NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, f.device, _ = ed25519.GenerateKey(seeded(2))
	return f
}

func (f *fixture) clientConfig() ClientConfig {
	return ClientConfig{ServerPublic: f.key.Public(), DeviceKey: f.device, Now: f.clock.Now}
}

type result struct {
	c   *Conn
	err error
}

// pair runs a handshake over client/server ends and returns both sessions.
func (f *fixture) pair(t testing.TB, cc, sc net.Conn, ccfg ClientConfig) (*Conn, *Conn, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := make(chan result, 1)
	go func() {
		c, err := f.server.Accept(ctx, sc)
		if err != nil {
			sc.Close() // as a real server would: the client sees EOF
		}
		ch <- result{c, err}
	}()
	client, cerr := Client(ctx, cc, ccfg)
	if cerr != nil {
		cc.Close() // unblock the server
	}
	r := <-ch
	return client, r.c, cerr, r.err
}

// shutdown closes a, reads the close record on b, then closes b, so that
// neither Close waits on an unbuffered pipe.
func shutdown(t testing.TB, a, b *Conn) {
	t.Helper()
	go a.Close()
	for {
		if _, err := b.Recv(); err != nil {
			if err != io.EOF {
				t.Errorf("Recv while shutting down = %v, want io.EOF", err)
			}
			break
		}
	}
	b.Close()
}

func mustPair(t testing.TB, f *fixture, cc, sc net.Conn) (*Conn, *Conn) {
	t.Helper()
	client, server, cerr, serr := f.pair(t, cc, sc, f.clientConfig())
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	return client, server
}

func exchange(t *testing.T, a, b *Conn, sizes []int) {
	t.Helper()
	for _, n := range sizes {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*7 + n)
		}
		errc := make(chan error, 1)
		go func() { errc <- a.Send(msg) }()
		got, err := b.Recv()
		if err != nil {
			t.Fatalf("Recv of %d bytes: %v", n, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("Send of %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("message of %d bytes came back as %d different bytes", n, len(got))
		}
	}
}

var roundTripSizes = []int{0, 1, 100, maxRecordData - 1, maxRecordData, maxRecordData + 1, 3*maxRecordData + 17, DefaultMaxMessageSize}

func TestRoundTripPipe(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	defer shutdown(t, client, server)
	if !bytes.Equal(server.PeerDevice(), f.device.Public().(ed25519.PublicKey)) {
		t.Fatal("server did not learn the client's device key")
	}
	if client.PeerDevice() != nil {
		t.Fatal("client side has a PeerDevice")
	}
	if client.SessionID() != server.SessionID() {
		t.Fatal("session ids differ")
	}
	exchange(t, client, server, roundTripSizes)
	exchange(t, server, client, roundTripSizes)
}

func TestRoundTripTCP(t *testing.T) {
	ln := testnet.Listen(t)
	defer ln.Close()
	f := newFixture(t, ServerConfig{Padding: PadToMultiple(256)})
	accepted := testnet.AcceptOne(ln)
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	ccfg := f.clientConfig()
	ccfg.Padding = PadToMultiple(512)
	client, server, cerr, serr := f.pair(t, cc, sc, ccfg)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	exchange(t, client, server, roundTripSizes)
	exchange(t, server, client, roundTripSizes)
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Recv(); err != io.EOF {
		t.Fatalf("Recv after peer Close = %v, want io.EOF", err)
	}
	if err := client.Send([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close = %v, want net.ErrClosed", err)
	}
	server.Close()
}

func TestWrongServerKeyFails(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	other, _ := GenerateServerKey(seeded(99))
	ccfg := f.clientConfig()
	ccfg.ServerPublic = other.Public()
	cc, sc := net.Pipe()
	_, _, cerr, serr := f.pair(t, cc, sc, ccfg)
	if cerr == nil || serr == nil {
		t.Fatalf("handshake with the wrong pinned key: client %v, server %v; want both to fail", cerr, serr)
	}
	if !errors.Is(serr, ErrNotAuthentic) {
		t.Fatalf("server error %v, want ErrNotAuthentic", serr)
	}
}

// recordingConn keeps a copy of everything written through it.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex // guards written
	written []byte
}

func (r *recordingConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.written = append(r.written, b...)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recordingConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.written...)
}

// clientBytes runs a handshake that must succeed (what names it in the
// failure), closes both ends and returns every byte the client wrote.
func (f *fixture) clientBytes(t testing.TB, ccfg ClientConfig, what string) []byte {
	t.Helper()
	cc, sc := net.Pipe()
	rec := &recordingConn{Conn: cc}
	client, server, cerr, serr := f.pair(t, rec, sc, ccfg)
	if cerr != nil || serr != nil {
		t.Fatalf("%s: client %v, server %v; want success", what, cerr, serr)
	}
	shutdown(t, client, server)
	return rec.bytes()
}

// firstMessageOf runs a handshake and returns the client's framed first message.
func firstMessageOf(t *testing.T, f *fixture, ccfg ClientConfig) []byte {
	t.Helper()
	w := f.clientBytes(t, ccfg, "handshake")
	n, err := FirstMessageLen(w)
	if err != nil {
		t.Fatal(err)
	}
	return w[:n]
}

// replayConn is the server end of a connection on which an attacker sends
// recorded bytes and then waits.
func replay(t *testing.T, f *fixture, first []byte) error {
	t.Helper()
	cc, sc := net.Pipe()
	defer cc.Close()
	go func() {
		cc.Write(first)
		io.Copy(io.Discard, cc)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := f.server.Accept(ctx, sc)
	if c != nil {
		c.Close()
	}
	sc.Close()
	return err
}

func TestReplayedFirstMessageFails(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	first := firstMessageOf(t, f, f.clientConfig())
	if err := f.server.CheckFirstMessage(first); !errors.Is(err, ErrReplay) {
		t.Fatalf("CheckFirstMessage on a used first message = %v, want ErrReplay", err)
	}
	if err := replay(t, f, first); !errors.Is(err, ErrReplay) {
		t.Fatalf("Accept of a replayed first message = %v, want ErrReplay", err)
	}
	// Later, outside the window, it is stale instead.
	f.clock.Add(DefaultReplayWindow + time.Second)
	if err := f.server.CheckFirstMessage(first); !errors.Is(err, ErrStale) {
		t.Fatalf("CheckFirstMessage on an old first message = %v, want ErrStale", err)
	}
	if err := replay(t, f, first); !errors.Is(err, ErrStale) {
		t.Fatalf("Accept of an old first message = %v, want ErrStale", err)
	}
}

func TestCheckFirstMessageHasNoSideEffect(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	other := newFixture(t, ServerConfig{}) // same key, separate replay cache
	first := firstMessageOf(t, other, f.clientConfig())
	for i := range 3 {
		if err := f.server.CheckFirstMessage(first); err != nil {
			t.Fatalf("CheckFirstMessage #%d on a fresh message = %v", i, err)
		}
	}
	if err := f.server.CheckFirstMessage(first[:len(first)-1]); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("CheckFirstMessage on a cut message = %v, want ErrIncomplete", err)
	}
	if err := f.server.CheckFirstMessage(append(first[:len(first):len(first)], "trailing"...)); err != nil {
		t.Fatalf("CheckFirstMessage with trailing bytes = %v", err)
	}
	bad := bytes.Clone(first)
	bad[40] ^= 1
	if err := f.server.CheckFirstMessage(bad); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("CheckFirstMessage on a changed message = %v, want ErrNotAuthentic", err)
	}
	if err := f.server.RememberFirstMessage(first); err != nil {
		t.Fatalf("RememberFirstMessage = %v", err)
	}
	if err := f.server.CheckFirstMessage(first); !errors.Is(err, ErrReplay) {
		t.Fatalf("CheckFirstMessage after Remember = %v, want ErrReplay", err)
	}
}

func TestClockSkewOutsideWindowFails(t *testing.T) {
	f := newFixture(t, ServerConfig{ReplayWindow: time.Minute})
	ccfg := f.clientConfig()
	ccfg.Now = func() time.Time { return f.clock.Now().Add(-2 * time.Minute) }
	cc, sc := net.Pipe()
	_, _, cerr, serr := f.pair(t, cc, sc, ccfg)
	if !errors.Is(serr, ErrStale) || cerr == nil {
		t.Fatalf("skewed client: client %v, server %v; want a client error and ErrStale", cerr, serr)
	}
}

func TestReplayCacheFullNeverRefusesNew(t *testing.T) {
	c := newReplayCache(2)
	e := func(b byte) [32]byte { return [32]byte{b} }
	for i, step := range []struct {
		eph           byte
		oldest, stamp int64
		want          error
	}{
		{1, 0, 100, nil},
		{2, 0, 200, nil},
		{1, 0, 100, ErrReplay},
		{3, 0, 50, errCacheFull},  // full: not refused as a replay, and not remembered
		{3, 0, 300, errCacheFull}, // nothing is evicted to make room
		{1, 0, 100, ErrReplay},    // so every remembered message stays refused
		{3, 150, 300, nil},        // stamp 100 expired: room again
		{2, 150, 200, ErrReplay},
	} {
		err := c.check(e(step.eph), step.oldest, step.stamp, true)
		if err != step.want {
			t.Fatalf("step %d: check(eph %d, oldest %d, stamp %d) = %v, want %v", i, step.eph, step.oldest, step.stamp, err, step.want)
		}
	}
}

func TestTamperedRecordFails(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	// The client writes through a conn that flips a bit in its 3rd write
	// (first frame, device auth, then this record).
	tc := &tamperConn{Conn: cc, at: 3}
	client, server, cerr, serr := f.pair(t, tc, sc, f.clientConfig())
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	go client.Send([]byte("hello, tampered world"))
	_, err := server.Recv()
	if !errors.Is(err, ErrRecordAuth) {
		t.Fatalf("Recv of a tampered record = %v, want ErrRecordAuth", err)
	}
	if _, err := server.Recv(); !errors.Is(err, ErrRecordAuth) {
		t.Fatalf("second Recv = %v, want the same sticky error", err)
	}
	client.Close()
}

type tamperConn struct {
	net.Conn
	n, at int
}

func (c *tamperConn) Write(b []byte) (int, error) {
	c.n++
	if c.n == c.at {
		b = bytes.Clone(b)
		b[len(b)-1] ^= 0x80
	}
	return c.Conn.Write(b)
}

func TestOversizeMessageFails(t *testing.T) {
	f := newFixture(t, ServerConfig{MaxMessageSize: 100_000})
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	defer client.Close()
	if err := server.Send(make([]byte, 100_001)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send over the limit = %v, want ErrMessageTooLarge", err)
	}
	exchange(t, client, server, []int{100_000}) // the limit itself passes
	go client.Send(make([]byte, 100_001))       // the client's limit is 1 MiB
	if _, err := server.Recv(); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Recv over the limit = %v, want ErrMessageTooLarge", err)
	}
	if err := server.Send([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after a fatal Recv error = %v, want the session closed", err)
	}
}

func TestMalformedRecordsFail(t *testing.T) {
	for name, raw := range map[string][]byte{
		"short-length":     {0, 5, 1, 2, 3, 4, 5},
		"garbage":          append([]byte{0, 40}, make([]byte, 40)...),
		"truncated":        append([]byte{0xff, 0xff}, make([]byte, 100)...),
		"eof-after-header": {0, 40},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, ServerConfig{})
			cc, sc := net.Pipe()
			client, server := mustPair(t, f, cc, sc)
			defer client.Close()
			go func() {
				cc.Write(raw)
				cc.Close()
			}()
			_, err := server.Recv()
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("Recv of a %s record = %v, want an error", name, err)
			}
			t.Logf("%s: %v", name, err)
		})
	}
}

func TestTruncatedHandshakeFails(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	first := firstMessageOf(t, newFixture(t, ServerConfig{}), f.clientConfig())
	for _, cut := range []int{0, 1, 2, 100, len(first) - 1} {
		t.Run(fmt.Sprintf("server-sees-%d-bytes", cut), func(t *testing.T) {
			cc, sc := net.Pipe()
			go func() {
				cc.Write(first[:cut])
				cc.Close()
			}()
			_, err := f.server.Accept(context.Background(), sc)
			if err == nil {
				t.Fatal("Accept of a truncated first message succeeded")
			}
			t.Logf("%v", err)
		})
	}
	t.Run("client-sees-eof", func(t *testing.T) {
		cc, sc := net.Pipe()
		go func() {
			buf := make([]byte, 4096)
			sc.Read(buf)
			sc.Write([]byte{0x05, 0x00, 1, 2, 3})
			sc.Close()
		}()
		_, err := Client(context.Background(), cc, f.clientConfig())
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Client with a truncated reply = %v, want io.ErrUnexpectedEOF", err)
		}
		t.Logf("%v", err)
	})
}

func TestHandshakeDeadlineFromContext(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	defer cc.Close()
	go io.Copy(io.Discard, sc) // a server that never answers
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Client(ctx, cc, f.clientConfig())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Client against a silent server = %v, want context.DeadlineExceeded", err)
	}
}

func TestConcurrentSend(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	defer shutdown(t, server, client)
	// Large enough to span records.
	sendFromMany(t, client, server, 8, 20, maxRecordData)
}

// sendFromMany has senders goroutines Send each messages apiece on client,
// message i of sender g being the byte pair (g, i) repeated reps times, and
// checks that server receives every one whole and in its sender's order.
func sendFromMany(t *testing.T, client, server *Conn, senders, each, reps int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := client.Send(bytes.Repeat([]byte{byte(g), byte(i)}, reps)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		msg, err := server.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) < 2 || int(msg[0]) >= senders {
			t.Fatalf("got a garbled message of %d bytes", len(msg))
		}
		g, i := int(msg[0]), int(msg[1])
		if !bytes.Equal(msg, bytes.Repeat([]byte{byte(g), byte(i)}, reps)) || next[g] != i {
			t.Fatalf("message from sender %d #%d interleaved or out of order (want #%d)", g, i, next[g])
		}
		next[g]++
	}
	wg.Wait()
}

func TestServerSurvivesBadSession(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	// A probe of random bytes, then a real client.
	probe, sc := net.Pipe()
	go func() {
		probe.Write(append([]byte{0x05, 0x20}, bytes.Repeat([]byte{0xAB}, 0x520)...))
		probe.Close()
	}()
	if _, err := f.server.Accept(context.Background(), sc); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("Accept of a probe = %v, want ErrNotAuthentic", err)
	}
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	exchange(t, client, server, []int{10})
	shutdown(t, client, server)
}

func TestDeterministicHandshake(t *testing.T) {
	run := func(seed uint64) []byte {
		f := newFixture(t, ServerConfig{})
		ccfg := f.clientConfig()
		ccfg.Rand = seeded(seed)
		return firstMessageOf(t, f, ccfg)
	}
	a, b, c := run(7), run(7), run(8)
	if !bytes.Equal(a, b) {
		t.Fatal("the same Rand and clock gave different first messages")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different Rand gave the same first message")
	}
}

func TestServerPublicText(t *testing.T) {
	k, _ := GenerateServerKey(seeded(3))
	s := k.Public().String()
	p, err := ParseServerPublic(s)
	if err != nil || p != k.Public() {
		t.Fatalf("ParseServerPublic(%q) = %v, %v", s, p, err)
	}
	for _, bad := range []string{"", "sc1", s[3:], s + "A", "sc1" + string(make([]byte, 43))} {
		if _, err := ParseServerPublic(bad); err == nil {
			t.Errorf("ParseServerPublic(%q) succeeded", bad)
		}
	}
	k2, err := NewServerKey(k.Bytes())
	if err != nil || k2.Public() != k.Public() {
		t.Fatal("NewServerKey(Bytes()) lost the key")
	}
	if bytes.Contains([]byte(fmt.Sprint(k)), k.Bytes()) {
		t.Fatal("ServerKey prints its private key")
	}
}

// TestReleasedMessageIsReused: a message of several records is reassembled
// in one pooled buffer (no regrowing), ReleaseMessage hands it back, and
// the messages that reuse it arrive intact; a message that did not come
// from the pool is left alone.
func TestReleasedMessageIsReused(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	defer shutdown(t, client, server)
	for round, n := range []int{4*maxRecordData + 5, 2*maxRecordData + 1, largeMessageCap, largeMessageCap + 1, 300} {
		msg := bytes.Repeat([]byte{byte(round + 1)}, n)
		errc := make(chan error, 1)
		go func() { errc <- client.Send(msg) }()
		got, err := server.Recv()
		if err != nil || <-errc != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("round %d: the message of %d bytes arrived altered", round, n)
		}
		if pooled := cap(got) == largeMessageCap; pooled != (n > maxRecordData && n <= largeMessageCap) {
			t.Fatalf("round %d: %d bytes in a buffer of cap %d", round, n, cap(got))
		}
		ReleaseMessage(got)
	}
}
