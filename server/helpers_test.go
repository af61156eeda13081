package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// testServer is a real server on 127.0.0.1 with a real sqlite store.
type testServer struct {
	addr    string
	pub     securechan.ServerPublic
	srv     *server.Server
	store   *sqlite.Store
	metrics *server.Metrics
	cancel  context.CancelFunc
	done    chan error
}

// quietLogger drops debug and info logs; set SAMIZDAT_TEST_LOG to see them.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func startServer(t testing.TB, configure func(*server.Config)) *testServer {
	t.Helper()
	st := sqlitetest.Open(t)
	return startServerWith(t, st, st, configure)
}

func startServerWith(t testing.TB, st server.Store, sq *sqlite.Store, configure func(*server.Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, st, sq, ln, configure)
}

// serveOn runs a server on st (sq, when set, is the sqlite store under it,
// closed after the server stops) accepting on ln, with a fresh key, the
// test's logger and fresh metrics, then configure's changes.
func serveOn(t testing.TB, st server.Store, sq *sqlite.Store, ln net.Listener, configure func(*server.Config)) *testServer {
	t.Helper()
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: st, Key: key, Logger: testLogger(t), Metrics: server.NewMetrics()}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{addr: ln.Addr().String(), pub: key.Public(), srv: srv, store: sq, metrics: cfg.Metrics, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		ts.stop(t)
		if sq != nil {
			sq.Close()
		}
	})
	return ts
}

// stop shuts the server down (drain) and waits for Serve.
func (ts *testServer) stop(t testing.TB) {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("Serve did not return after its context ended")
	}
}

// identity is an account with one device key.
type identity struct {
	account ed25519.PrivateKey
	device  ed25519.PrivateKey
}

func newAccount() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

func newIdentity(account ed25519.PrivateKey) identity {
	_, d, _ := ed25519.GenerateKey(rand.Reader)
	return identity{account: account, device: d}
}

func (id identity) accountKey() (k wire.AccountKey) {
	copy(k[:], id.account.Public().(ed25519.PublicKey))
	return
}
func (id identity) deviceKey() (k wire.DeviceKey) {
	copy(k[:], id.device.Public().(ed25519.PublicKey))
	return
}
func (id identity) deviceID() wire.DeviceID {
	return sha256.Sum256(id.device.Public().(ed25519.PublicKey))
}

func (id identity) cert() (s wire.Signature) {
	copy(s[:], ed25519.Sign(id.account, append([]byte("samizdat device v1"), id.device.Public().(ed25519.PublicKey)...)))
	return
}

// client is a minimal protocol client for tests: one request at a time,
// pushes collected on a channel.
type client struct {
	t        testing.TB
	sc       *securechan.Conn
	nextID   atomic.Uint32
	frames   chan wire.Frame        // responses
	delivers chan *wire.Deliver     // pushes
	chanPush chan *wire.ChannelPush // channel pushes
	connErr  chan *wire.Error       // connection-level errors (request id 0)
	caught   chan caughtUpSeen      // CaughtUp pushes (wire.md §6.6a)
	nDeliver int                    // Delivers read so far; only the reader touches it
	closed   chan struct{}          // the reader ended
	readErr  error
}

func dial(t testing.TB, ts *testServer, id identity) *client {
	t.Helper()
	c, err := tryDial(ts, id)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() { c.sc.Close() })
	return c
}

func tryDial(ts *testServer, id identity) (*client, error) {
	sc, err := handshake(ts, id, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{sc: sc, frames: make(chan wire.Frame, 16), delivers: make(chan *wire.Deliver, 4096), chanPush: make(chan *wire.ChannelPush, 256),
		connErr: make(chan *wire.Error, 1), caught: make(chan caughtUpSeen, 16), closed: make(chan struct{})}
	go c.read()
	return c, nil
}

// handshake dials the server and runs the secure channel handshake as id's
// device, allowing it within.
func handshake(ts *testServer, id identity, within time.Duration) (*securechan.Conn, error) {
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	sc, err := securechan.Client(ctx, conn, securechan.ClientConfig{ServerPublic: ts.pub, DeviceKey: id.device})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return sc, nil
}

func (c *client) read() {
	defer close(c.closed)
	for {
		b, err := c.sc.Recv()
		if err != nil {
			c.readErr = err
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			c.readErr = err
			return
		}
		switch m := f.Msg.(type) {
		case *wire.Deliver:
			c.nDeliver++
			c.delivers <- m
		case *wire.CaughtUp:
			c.caught <- caughtUpSeen{m, c.nDeliver}
		case *wire.ChannelPush:
			c.chanPush <- m
		case *wire.Error:
			if f.RequestID == 0 {
				c.connErr <- m
				continue
			}
			c.frames <- f
		default:
			c.frames <- f
		}
	}
}

// call sends m and returns the answer (a *wire.Error on failure).
func (c *client) call(m wire.Message) wire.Message {
	c.t.Helper()
	r, err := c.tryCall(m)
	if err != nil {
		c.t.Fatalf("%v: %v", m.Type(), err)
	}
	return r
}

func (c *client) tryCall(m wire.Message) (wire.Message, error) {
	id := c.nextID.Add(1)
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: m})
	if err != nil {
		return nil, err
	}
	if err := c.sc.Send(b); err != nil {
		return nil, err
	}
	select {
	case f := <-c.frames:
		if f.RequestID != id {
			return nil, errors.New("answer for another request id")
		}
		return f.Msg, nil
	case e := <-c.connErr:
		return e, nil
	case <-c.closed:
		select { // answers that arrived just before the close
		case f := <-c.frames:
			return f.Msg, nil
		case e := <-c.connErr:
			return e, nil
		default:
		}
		if c.readErr == nil {
			c.readErr = io.EOF
		}
		return nil, c.readErr
	case <-time.After(15 * time.Second):
		return nil, errors.New("no answer within 15s")
	}
}

// must calls m and fails the test unless the answer has type want.
func (c *client) must(m wire.Message, want wire.Type) wire.Message {
	c.t.Helper()
	r := c.call(m)
	if r.Type() != want {
		c.t.Fatalf("%v answered %v (%v), want %v", m.Type(), r.Type(), r, want)
	}
	return r
}

// wantError calls m and fails the test unless the answer is Error{code}.
func (c *client) wantError(m wire.Message, code wire.ErrorCode) *wire.Error {
	c.t.Helper()
	r := c.call(m)
	e, ok := r.(*wire.Error)
	if !ok || e.Code != code {
		c.t.Fatalf("%v answered %v %v, want Error{%v}", m.Type(), r.Type(), r, code)
	}
	return e
}

func (c *client) hello() {
	c.t.Helper()
	c.must(&wire.ClientHello{MinVersion: 1, MaxVersion: 1}, wire.TypeServerHello)
}

// connect dials, says hello and registers id.
func connect(t testing.TB, ts *testServer, id identity) *client {
	t.Helper()
	c := dial(t, ts, id)
	c.hello()
	c.must(&wire.RegisterDevice{AccountKey: id.accountKey(), DeviceCert: id.cert()}, wire.TypeOK)
	return c
}

// next returns the next Deliver or fails after a timeout.
func (c *client) next() *wire.Deliver {
	c.t.Helper()
	select {
	case d := <-c.delivers:
		return d
	case <-time.After(10 * time.Second):
		c.t.Fatal("no Deliver within 10s")
		return nil
	}
}

// none checks that no Deliver arrives for a short while.
func (c *client) none() {
	c.t.Helper()
	select {
	case d := <-c.delivers:
		c.t.Fatalf("unexpected Deliver seq %d", d.Seq)
	case <-time.After(200 * time.Millisecond):
	}
}

func msgID() (id wire.MsgID)    { rand.Read(id[:]); return }
func group() (g wire.GroupHash) { rand.Read(g[:]); return }

func app(payload string, to ...wire.DeviceID) *wire.Send {
	return &wire.Send{MsgID: msgID(), Group: group(), Kind: wire.KindApplication, Recipients: to, Payload: []byte(payload)}
}

func sha(k []byte) [32]byte {
	if len(k) == 64 {
		k = k[32:] // an ed25519.PrivateKey: hash its public half
	}
	return sha256.Sum256(k)
}
