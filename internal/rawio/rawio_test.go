package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pair returns a wrapped conn and its plain peer, over TCP or a unix socket.
func pair(t *testing.T, network string) (wrapped, peer net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); p.Close() })
	w := Wrap(c)
	if w == c && runtime.GOOS == "linux" {
		t.Fatalf("Wrap(%T) returned it as it was, want the raw conn", c)
	}
	return w, p
}

// TestConn: a wrapped conn carries bytes both ways (4 MiB against a slow
// reader, so writes wait for room), half-closes, reads io.EOF after the
// peer's close, times out on a deadline and returns at once after Close,
// with the errors net.Conn gives.
func TestConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			c, p := pair(t, network)
			big := make([]byte, 4<<20)
			rand.Read(big)
			got := make(chan []byte)
			go func() {
				time.Sleep(50 * time.Millisecond) // the socket buffer fills first
				b, _ := io.ReadAll(p)
				got <- b
			}()
			if n, err := c.Write(big); n != len(big) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, big) {
				t.Fatalf("the peer read %d bytes, not what was written", len(b))
			}

			p.Write([]byte("hello"))
			buf := make([]byte, 64)
			if n, err := io.ReadAtLeast(c, buf, 5); err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("Read = %q, %v", buf[:n], err)
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read past the deadline: %v", err)
			}
			c.SetReadDeadline(time.Time{})
			p.Close()
			if n, err := c.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("Read after the peer's close = %d, %v; want io.EOF", n, err)
			}
		})
	}
}

// TestCloseUnblocksRead: Close ends a Read that waits, with net.ErrClosed.
func TestCloseUnblocksRead(t *testing.T) {
	c, _ := pair(t, "tcp")
	done := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still waits after Close")
	}
}

// TestWrapLeavesOthers: conns that are not sockets stay as they are.
func TestWrapLeavesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a net.Pipe conn")
	}
}
