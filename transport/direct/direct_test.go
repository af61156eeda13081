package direct

import (
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
