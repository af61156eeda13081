package pt

import (
	"bytes"
	"context"
	"errors"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/obfs4"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// obfs4proxyPath finds Debian's obfs4proxy. The tests skip without it only
// outside CI; .ci/run installs it, so in CI they always run.
func obfs4proxyPath(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "obfs4proxy", "apt-get install obfs4proxy")
}

func startCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startClient runs obfs4proxy as an obfs4 client for the whole test.
func startClient(t testing.TB, bin string) *Client {
	t.Helper()
	c, err := StartClient(startCtx(t), Config{Path: bin, Log: testLog{t}}, "obfs4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startServer runs obfs4proxy as an obfs4 server on loopback with options
// (nil: obfs4proxy makes its own keys).
func startServer(t testing.TB, bin string, opts map[string]string) *Listener {
	t.Helper()
	ln, err := Listen(startCtx(t), ServerConfig{
		Config:   Config{Path: bin, Log: testLog{t}},
		Method:   "obfs4",
		BindAddr: "127.0.0.1:0",
		Options:  opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// testLog sends the child's output to the test log (shown on failure).
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Logf("child: %s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

// TestConformanceObfs4proxyBothSides: obfs4proxy client -> obfs4proxy server,
// both driven through this package.
func TestConformanceObfs4proxyBothSides(t *testing.T) {
	bin := obfs4proxyPath(t)
	client := startClient(t, bin)
	transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
		ln := startServer(t, bin, nil)
		return dialerTo(t, ln, client.NewDialer), ln
	})
}

// TestCrossOurDialerToObfs4proxyServer: transport/obfs4's Dialer (lyrebird
// library) against obfs4proxy's server, keyed with a ServerState of ours.
func TestCrossOurDialerToObfs4proxyServer(t *testing.T) {
	bin := obfs4proxyPath(t)
	transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
		st, err := obfs4.GenerateServerState(obfs4.IATNone)
		if err != nil {
			t.Fatal(err)
		}
		ln := startServer(t, bin, st.PTOptions())
		// obfs4proxy announces the cert of the keys we gave it.
		if got := ln.Params()["cert"]; got != st.Cert() {
			ln.Close()
			t.Fatalf("obfs4proxy announced cert %q, want ours %q", got, st.Cert())
		}
		return noHalfClose{dialerTo(t, ln, obfs4.NewDialer)}, ln
	})
}

// dialerTo makes the dialer to ln's spec with newDialer, closing ln and
// failing the test if it cannot.
func dialerTo[D transport.Dialer](t *testing.T, ln interface {
	transport.Listener
	Spec(addr string) transport.Spec
}, newDialer func(transport.Spec) (D, error)) D {
	t.Helper()
	d, err := newDialer(ln.Spec(ln.Addr().String()))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	return d
}

// noHalfClose hides CloseWrite of the conns d makes. obfs4proxy's server
// turns a half-close into a full close of both directions, so against it
// the half-close part of the suite cannot pass; transport/obfs4's own
// Listener does half-close (its conformance test covers it).
type noHalfClose struct{ d transport.Dialer }

func (n noHalfClose) Dial(ctx context.Context) (net.Conn, error) {
	c, err := n.d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// TestCrossObfs4proxyClientToOurListener: obfs4proxy's client against
// transport/obfs4's Listener (lyrebird library).
func TestCrossObfs4proxyClientToOurListener(t *testing.T) {
	bin := obfs4proxyPath(t)
	client := startClient(t, bin)
	for _, mode := range []obfs4.IATMode{obfs4.IATNone, obfs4.IATEnabled} {
		t.Run(map[obfs4.IATMode]string{0: "iat-mode=0", 1: "iat-mode=1"}[mode], func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
				st, err := obfs4.GenerateServerState(mode)
				if err != nil {
					t.Fatal(err)
				}
				ln, err := obfs4.Listen("127.0.0.1:0", st)
				if err != nil {
					t.Fatal(err)
				}
				return dialerTo(t, ln, client.NewDialer), ln
			})
		})
	}
}

// TestWrongCertThroughPT: obfs4proxy with a cert that is not the server's
// never completes the handshake; Dial ends with ctx.
func TestWrongCertThroughPT(t *testing.T) {
	bin := obfs4proxyPath(t)
	client := startClient(t, bin)
	st, _ := obfs4.GenerateServerState(obfs4.IATNone)
	ln, err := obfs4.Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, _ := obfs4.GenerateServerState(obfs4.IATNone)
	d, err := client.NewDialer(other.Params().Spec(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Fatal("Dial with the wrong cert succeeded")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial error %v, want one wrapping context.DeadlineExceeded", err)
	}
}

func TestStartClientErrors(t *testing.T) {
	bin := obfs4proxyPath(t)
	ctx := startCtx(t)
	if _, err := StartClient(ctx, Config{Path: bin}, "nosuchtransport"); err == nil || !strings.Contains(err.Error(), "nosuchtransport") {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := StartClient(ctx, Config{Path: "/nonexistent/pt"}, "obfs4"); err == nil {
		t.Error("missing binary started")
	}
	if _, err := StartClient(ctx, Config{Path: bin}, "bad name"); err == nil {
		t.Error("bad method name accepted")
	}
	dir := t.TempDir()
	scripts := map[string]string{
		"version-error": "echo VERSION-ERROR no-version",
		"env-error":     "echo VERSION 1; echo ENV-ERROR missing TOR_PT_FOO",
		"silent-exit":   "echo oops >&2; exit 3",
		"no-version":    "echo CMETHOD obfs4 socks5 127.0.0.1:1; echo CMETHODS DONE",
	}
	for name, body := range scripts {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755)
		_, err := StartClient(ctx, Config{Path: path}, "obfs4")
		if err == nil {
			t.Errorf("%s: started", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// The child's stderr makes it into the error.
	_, err := StartClient(ctx, Config{Path: filepath.Join(dir, "silent-exit")}, "obfs4")
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("stderr not in error: %v", err)
	}
	// A child that never finishes configuring hits StartTimeout.
	hang := filepath.Join(dir, "hang")
	os.WriteFile(hang, []byte("#!/bin/sh\necho VERSION 1\nexec sleep 60\n"), 0o755)
	start := time.Now()
	if _, err := StartClient(ctx, Config{Path: hang, StartTimeout: 300 * time.Millisecond}, "obfs4"); err == nil {
		t.Error("hanging child started")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("StartTimeout 300ms took %v (child not killed?)", d)
	}
}

// TestCloseKillsChild: Close ends the child process and removes the
// temporary state dir; connections through it end.
func TestCloseKillsChild(t *testing.T) {
	bin := obfs4proxyPath(t)
	c, err := StartClient(startCtx(t), Config{Path: bin}, "obfs4")
	if err != nil {
		t.Fatal(err)
	}
	pid := c.proc.cmd.Process.Pid
	dir := c.proc.tempDir
	if dir == "" {
		t.Fatal("no temporary state dir")
	}
	c.Close()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("child %d still alive after Close", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state dir %s still there: %v", dir, err)
	}
	if _, err := c.NewDialer(transport.Spec{Name: "obfs4", Addr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.NewDialer(transport.Spec{Name: "obfs4", Addr: "127.0.0.1:1"})
	if conn, err := d.Dial(startCtx(t)); err == nil {
		conn.Close()
		t.Fatal("Dial through a closed client succeeded")
	}

	// Server side: Close kills the child and Accept reports net.ErrClosed.
	ln := startServer(t, bin, nil)
	spid := ln.proc.cmd.Process.Pid
	ln.Close()
	if err := syscall.Kill(spid, 0); err == nil {
		t.Fatalf("server child %d still alive after Close", spid)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestServerChildDeathStopsAccept: if the PT server dies on its own, Accept
// returns an error naming the exit instead of blocking forever.
func TestServerChildDeathStopsAccept(t *testing.T) {
	bin := obfs4proxyPath(t)
	ln := startServer(t, bin, nil)
	defer ln.Close()
	ln.proc.cmd.Process.Kill()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "child") {
			t.Fatalf("Accept after the child died: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after the child died")
	}
}

// TestServerUsesStateDir: without options, obfs4proxy keeps its keys in
// StateDir; a restart with the same dir announces the same cert.
func TestServerUsesStateDir(t *testing.T) {
	bin := obfs4proxyPath(t)
	dir := t.TempDir()
	run := func() string {
		ln, err := Listen(startCtx(t), ServerConfig{Config: Config{Path: bin, StateDir: dir}, Method: "obfs4", BindAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Params()["cert"]
	}
	first, second := run(), run()
	if first == "" || first != second {
		t.Fatalf("certs across restarts: %q then %q", first, second)
	}
	// obfs4proxy's state file is one transport/obfs4 reads.
	js, err := os.ReadFile(filepath.Join(dir, "obfs4_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := obfs4.ParseServerState(js)
	if err != nil {
		t.Fatalf("obfs4proxy's state file: %v", err)
	}
	if st.Cert() != first {
		t.Fatalf("cert from obfs4proxy's state file %q, announced %q", st.Cert(), first)
	}
}

var _ io.Writer = testLog{}

// TestExtORPort: the PT server reaches us over the Extended ORPort, so an
// accepted conn's RemoteAddr is the real client's address; a local process
// without the cookie cannot inject a conn.
func TestExtORPort(t *testing.T) {
	bin := obfs4proxyPath(t)
	st, _ := obfs4.GenerateServerState(obfs4.IATNone)
	ln := startServer(t, bin, st.PTOptions())
	defer ln.Close()

	// An intruder on our loopback port fails the cookie check.
	intruder, err := net.Dial("tcp", ln.orLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	intruder.SetDeadline(time.Now().Add(5 * time.Second))
	types := make([]byte, 2)
	if _, err := io.ReadFull(intruder, types); err != nil || types[0] != 1 || types[1] != 0 {
		t.Fatalf("auth types %v, %v", types, err)
	}
	intruder.Write(append([]byte{1}, make([]byte, 32)...))
	io.ReadFull(intruder, make([]byte, 64))
	intruder.Write(make([]byte, 32)) // a wrong ClientHash
	status := make([]byte, 1)
	if _, err := io.ReadFull(intruder, status); err != nil || status[0] != 0 {
		t.Fatalf("status after a wrong ClientHash: %v, %v; want 0", status, err)
	}

	d, err := obfs4.NewDialer(ln.Spec(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	c := transporttest.Dial(t, d, "dialing after the intruder")
	c.Write([]byte("hi"))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Fatalf("accepted conn's RemoteAddr %s, want the client's %s", got, want)
	}
	buf := make([]byte, 2)
	s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
}
