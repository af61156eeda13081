package direct

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return NewDialer(ln.Addr().String()), ln
	})
}

func TestDialerFromSpec(t *testing.T) {
	s, err := transport.ParseSpec("direct://127.0.0.1:443")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DialerFromSpec(s); err != nil {
		t.Fatalf("DialerFromSpec: %v", err)
	}
	s.Params = map[string]string{"bogus": "1"}
	if _, err := DialerFromSpec(s); err == nil {
		t.Fatal("DialerFromSpec accepted an unknown parameter")
	}
	if _, err := DialerFromSpec(transport.Spec{Name: "tlsws", Addr: "127.0.0.1:443"}); err == nil {
		t.Fatal("DialerFromSpec accepted a tlsws spec")
	}
}

func TestFirstCutBounds(t *testing.T) {
	for _, n := range []int{0, 1, 64, 65, 500, 1200, 1378, 2058, 1 << 16} {
		for range 200 {
			k := firstCut(n)
			if n <= minFirstSegment && k != n {
				t.Fatalf("firstCut(%d) = %d, want no cut", n, k)
			}
			if n > minFirstSegment && (k < minFirstSegment || k > min(n, maxFirstSegment)) {
				t.Fatalf("firstCut(%d) = %d, want %d..%d", n, k, minFirstSegment, min(n, maxFirstSegment))
			}
		}
	}
}

// TestReadFromDeliversAll: io.Copy into a dialed Conn takes the ReadFrom
// path (first chunk cut, the rest spliced) and loses or reorders nothing.
func TestReadFromDeliversAll(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := NewDialer(ln.Addr().String()).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 300<<10)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if _, err := io.Copy(c, bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	c.(*Conn).CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("received %d bytes, not the %d sent", len(b), len(want))
	}
	c.Close()
}
