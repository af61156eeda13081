package obfs4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// newPair starts a Listener on loopback with fresh state and a Dialer for it.
func newPair(t testing.TB, mode IATMode) (*Dialer, *Listener) {
	t.Helper()
	st, err := GenerateServerState(mode)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDialer(ln.Spec(ln.Addr().String()))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	return d, ln
}

func TestConformance(t *testing.T) {
	for _, mode := range []IATMode{IATNone, IATEnabled} {
		t.Run(fmt.Sprintf("iat-mode=%d", mode), func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
				return newPair(t, mode)
			})
		})
	}
}

func TestServerStateRoundTrip(t *testing.T) {
	st, err := GenerateServerState(IATEnabled)
	if err != nil {
		t.Fatal(err)
	}
	js, err := st.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseServerState(js)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(st) || back.Cert() != st.Cert() || back.IATMode() != IATEnabled {
		t.Fatal("state changed across MarshalJSON/ParseServerState")
	}
	other, _ := GenerateServerState(IATEnabled)
	if other.Equal(st) || other.Cert() == st.Cert() {
		t.Fatal("two generated states are equal")
	}
	// A stored public key that does not match the private key is refused.
	bad := bytes.Replace(js, []byte(`"public-key":"`), []byte(`"public-key":"00`), 1)
	bad = bytes.Replace(bad, []byte(`","drbg-seed"`), []byte(`"drbg-seed"`), 1)
	if _, err := ParseServerState(bad); err == nil {
		t.Fatal("ParseServerState accepted a corrupted public key")
	}
	for _, in := range []string{"", "{}", "[]", `{"node-id":"zz"}`, `{"iat-mode":7}`} {
		if _, err := ParseServerState([]byte(in)); err == nil {
			t.Errorf("ParseServerState(%q) succeeded", in)
		}
	}
}

// TestStatePersistsIdentity: a server restarted from persisted state keeps
// its bridge line, so old clients still connect.
func TestStatePersistsIdentity(t *testing.T) {
	st, _ := GenerateServerState(IATNone)
	js, _ := st.MarshalJSON()
	ln1, err := Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	spec := ln1.Spec(ln1.Addr().String())
	addr := ln1.Addr().String()
	ln1.Close()

	st2, err := ParseServerState(js)
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := Listen(addr, st2)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go func() {
		c, err := ln2.Accept()
		if err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	d, err := NewDialer(spec)
	if err != nil {
		t.Fatal(err)
	}
	c := transporttest.Dial(t, d, "dial the restarted server with the old spec")
	buf, err := io.ReadAll(c)
	if err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

// TestWrongCertTimesOut: a client with another server's cert gets no answer
// (obfs4 servers never answer a bad handshake); Dial ends with ctx.
func TestWrongCertTimesOut(t *testing.T) {
	_, ln := newPair(t, IATNone)
	defer ln.Close()
	other, _ := GenerateServerState(IATNone)
	d, err := NewDialerParams(ln.Addr().String(), other.Params())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := d.Dial(ctx)
	if err == nil {
		c.Close()
		t.Fatal("Dial with the wrong cert succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Dial took %v after a 500ms context", time.Since(start))
	}
}

func TestParamsFromSpec(t *testing.T) {
	st, _ := GenerateServerState(IATParanoid)
	good := st.Params().Spec("example.org:443")
	text := good.String()
	parsed, err := transport.ParseSpec(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParamsFromSpec(parsed)
	if err != nil {
		t.Fatalf("ParamsFromSpec(%s): %v", text, err)
	}
	if p != st.Params() {
		t.Fatalf("params changed through the text form: %v vs %v", p, st.Params())
	}
	if got := p.String(); got != "cert="+st.Cert()+" iat-mode=2" {
		t.Fatalf("bridge-line form %q", got)
	}
	mutate := func(f func(m map[string]string)) transport.Spec {
		s := transport.Spec{Name: good.Name, Addr: good.Addr, Params: map[string]string{}}
		for k, v := range good.Params {
			s.Params[k] = v
		}
		f(s.Params)
		return s
	}
	bad := map[string]transport.Spec{
		"no cert":      mutate(func(m map[string]string) { delete(m, ParamCert) }),
		"no iat":       mutate(func(m map[string]string) { delete(m, ParamIATMode) }),
		"iat 3":        mutate(func(m map[string]string) { m[ParamIATMode] = "3" }),
		"iat -1":       mutate(func(m map[string]string) { m[ParamIATMode] = "-1" }),
		"iat 01":       mutate(func(m map[string]string) { m[ParamIATMode] = "01" }),
		"short cert":   mutate(func(m map[string]string) { m[ParamCert] = m[ParamCert][:40] }),
		"cert not b64": mutate(func(m map[string]string) { m[ParamCert] = strings.Repeat("!", 70) }),
		"unknown key":  mutate(func(m map[string]string) { m["node-id"] = "00" }),
		"other name":   {Name: "direct", Addr: good.Addr, Params: good.Params},
	}
	for name, s := range bad {
		if _, err := NewDialer(s); err == nil {
			t.Errorf("%s: NewDialer accepted %v", name, s.Params)
		} else if name != "other name" && strings.Contains(err.Error(), st.Cert()) {
			t.Errorf("%s: error echoes the cert: %v", name, err)
		}
	}
}

// TestListenerCloseDropsPendingHandshakes: a peer stalled in the handshake
// does not keep Close waiting.
func TestListenerCloseDropsPendingHandshakes(t *testing.T) {
	_, ln := newPair(t, IATNone)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(make([]byte, 50))
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { ln.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a connection stalled in the handshake")
	}
	raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("stalled peer's conn still open after listener Close")
	}
}
