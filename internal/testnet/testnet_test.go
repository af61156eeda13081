package testnet

import (
	"net"
	"sync/atomic"
	"testing"
)

func TestForwardReachesTheTarget(t *testing.T) {
	target := ServeTCP(t, Echo)
	var links atomic.Int32
	addr := Forward(t, Listen(t), target, func(in, out net.Conn) {
		links.Add(1)
		go func() {
			defer out.Close()
			buf := make([]byte, 512)
			n, _ := in.Read(buf)
			out.Write(buf[:n])
			<-make(chan struct{})
		}()
		buf := make([]byte, 512)
		n, _ := out.Read(buf)
		in.Write(buf[:n])
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	MustEcho(t, c, []byte("through the forwarder"))
	if links.Load() != 1 {
		t.Errorf("link called %d times, want 1", links.Load())
	}
}

func TestForwardClosesWhenTheTargetIsDown(t *testing.T) {
	addr := Forward(t, Listen(t), FreeAddr(t), func(in, out net.Conn) { t.Error("link called without a target") })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes from a forwarder with no target", n)
	}
}

func TestAcceptOneHandsOverTheConnectionOrCloses(t *testing.T) {
	ln := Listen(t)
	accepted := AcceptOne(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, ok := <-accepted
	if !ok || s == nil {
		t.Fatal("AcceptOne gave no connection for a dial that reached it")
	}
	s.Close()
	ln.Close()
	if _, ok := <-AcceptOne(ln); ok {
		t.Fatal("AcceptOne on a closed listener sent a connection instead of closing")
	}
}
