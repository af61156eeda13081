//go:build !js

package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/transport"
)

// forwarder is an in-test TCP relay to the server that can be cut (conns
// closed) or frozen (bytes silently dropped).
type forwarder struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startForwarder(t *testing.T, listen, upstream string) *forwarder {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	testnet.Forward(t, ln, upstream, func(c, up net.Conn) {
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		go f.pipe(c, up)
		f.pipe(up, c)
	})
	t.Cleanup(f.cut)
	return f
}

func (f *forwarder) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (f *forwarder) cut() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

// bookServer runs a server on ln whose signed endpoint book holds entries,
// and returns its server link: a dead direct address plus the book entries
// named linkIDs (so a client reaches the server only through the book).
func bookServer(t *testing.T, ln net.Listener, entries []reach.Entry, linkIDs ...string) ServerLink {
	t.Helper()
	return bookServerBlobs(t, ln, entries, nil, linkIDs...)
}

// bookServerBlobs is bookServer with a blob store (none if nil).
func bookServerBlobs(t *testing.T, ln net.Listener, entries []reach.Entry, blobs server.BlobStore, linkIDs ...string) ServerLink {
	t.Helper()
	st := sqlitetest.Open(t)
	key, _ := securechan.GenerateServerKey(nil)
	_, bk, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := reach.NewSigner(bk, key.Public())
	srv, err := server.New(server.Config{Store: st, Key: key, Blobs: blobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second,
		Reach: &server.ReachConfig{Signer: signer, SliceSecret: make([]byte, 32), TrustAge: -1, Entries: entries}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	dead.Close()
	l := reach.Link{Chan: key.Public(), Book: signer.ServerID().Book, Addrs: []string{dead.Addr().String()}, Entries: srv.BookEntries(linkIDs...)}
	sl, err := ParseServerLink(l.String())
	if err != nil || sl.Reach == "" {
		t.Fatalf("ParseServerLink(%s) = %+v, %v; want the reach text kept", l, sl, err)
	}
	return sl
}

// directEntry is a book entry for a direct path at addr.
func directEntry(id, addr string) reach.Entry {
	return reach.Entry{ID: id, Kind: reach.KindRelay, Label: id, Spec: transport.Spec{Name: "direct", Addr: addr}}
}

// TestReachFailover: a link that names a dead address and relay A; the
// book adds relay B; cutting A, then freezing B, moves the client without
// any call, and the cache (with B) survives a restart.
func TestReachFailover(t *testing.T) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	fa, fb := startForwarder(t, "127.0.0.1:0", srvLn.Addr().String()), startForwarder(t, "127.0.0.1:0", srvLn.Addr().String())
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-a", fa.addr()), directEntry("relay-b", fb.addr())}, "relay-a")
	// Invites carry it on.
	if in, err := ParseInvite(Invite{Server: sl, Name: "x"}.String()); err != nil || in.Server.Reach != sl.Reach {
		t.Fatalf("invite lost the reach link: %v", err)
	}

	home := filepath.Join(t.TempDir(), "alice")
	var paths []string
	var pmu sync.Mutex
	o := userOptions(t, home, "alice")
	o.PingInterval, o.PingTimeout = 200*time.Millisecond, 400*time.Millisecond
	o.OnPath = func(p PathStatus) { pmu.Lock(); paths = append(paths, p.String()); pmu.Unlock() }
	c, err := Init(InitOptions{Options: o, Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, c)
	waitPath := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if p := c.Path(); p.Connected && p.ID == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		pmu.Lock()
		defer pmu.Unlock()
		t.Fatalf("not connected via %s; now %s; history:\n%s", want, c.Path(), strings.Join(paths, "\n"))
	}
	waitPath("relay-a")
	// The book brings relay B.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(c.KnownPaths(), " "), `"relay-b"`) {
		if time.Now().After(deadline) {
			t.Fatalf("relay B never came in the book: %v", c.KnownPaths())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fa.cut()
	waitPath("relay-b")
	if s := c.Path().String(); !strings.HasPrefix(s, `connected via relay "relay-b" (direct) since `) {
		t.Errorf("status %q", s)
	}
	// B goes silent: the keepalive notices, and with A gone, a fresh A
	// at the same address takes over.
	startForwarder(t, fa.addr(), srvLn.Addr().String())
	start := time.Now()
	fb.frozen.Store(true)
	waitPath("relay-a")
	t.Logf("silent relay B replaced by relay A after %v (ping timeout %v)", time.Since(start).Round(time.Millisecond), o.PingTimeout)
	c.Close()

	// The endpoint book survived in the store.
	c2, err := Open(userOptions(t, home, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if known := strings.Join(c2.KnownPaths(), " "); !strings.Contains(known, `"relay-b"`) {
		t.Errorf("relay B not in the reopened cache: %s", known)
	}
}
