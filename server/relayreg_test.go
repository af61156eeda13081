package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/relay"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/wire"
)

// startRelay runs a direct relay on 127.0.0.1 in front of ts and returns
// the spec clients dial.
func startRelay(t *testing.T, ts *testServer) transport.Spec {
	t.Helper()
	ln, err := direct.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(relay.Config{Upstream: direct.NewDialer(ts.addr), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx, relay.NamedListener{Name: direct.Name, Listener: ln}); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return direct.Spec(ln.Addr().String())
}

// bookRelays fetches a new device's book from ts and returns its relays'
// specs by label.
func bookRelays(t *testing.T, ts *testServer, signer *reach.Signer) map[string]string {
	t.Helper()
	c := connect(t, ts, newIdentity(newAccount()))
	resp := c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book)
	b, err := reach.VerifyBook(resp.Data, signer.ServerID(), time.Now())
	if err != nil {
		t.Fatalf("the book does not verify: %v", err)
	}
	out := map[string]string{}
	for _, se := range b.Entries {
		if se.Entry.Kind == reach.KindRelay {
			out[se.Entry.Label] = se.Entry.Spec.String()
		}
	}
	return out
}

func TestRegisterRelay(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "relays.json")
	token := make([]byte, 32)
	rand.Read(token)
	_, bookKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	var signer *reach.Signer
	configure := func(c *server.Config) {
		var err error
		if signer, err = reach.NewSigner(bookKey, c.Key.Public()); err != nil {
			t.Fatal(err)
		}
		c.Reach = &server.ReachConfig{Signer: signer, SliceSecret: secret, SliceSize: 5, TrustAge: -1,
			Entries:      []reach.Entry{{ID: "r-static", Kind: reach.KindRelay, Label: "static", Spec: direct.Spec("198.51.100.1:443")}},
			Registration: &server.RelayRegistration{Token: token, File: file}}
	}
	ts := startServer(t, configure)
	if got := bookRelays(t, ts, signer); len(got) != 1 || got["static"] == "" {
		t.Fatalf("relays before registering: %v, want only the static one", got)
	}

	good, bad := startRelay(t, ts), startRelay(t, ts)
	reg := func(tok []byte, spec transport.Spec, label string) error {
		r := &relay.Registration{Server: ts.pub, Dialer: direct.NewDialer(ts.addr), Token: tok, Spec: spec, Label: label}
		return r.Register(context.Background())
	}
	if err := reg(token, good, "volunteer"); err != nil {
		t.Fatalf("registering with the right token: %v", err)
	}
	wrong := append([]byte(nil), token...)
	wrong[0] ^= 1
	var we *wire.Error
	if err := reg(wrong, bad, "intruder"); !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
		t.Fatalf("registering with a wrong token: %v, want Unauthorized", err)
	} else if strings.Contains(err.Error(), string(wrong)) {
		t.Fatal("the error carries the token")
	}
	if err := reg(token, transport.Spec{Name: "carrier-pigeon", Addr: "192.0.2.1:1"}, "odd"); !errors.As(err, &we) || we.Code != wire.CodeBadRequest {
		t.Fatalf("registering an unknown transport: %v, want BadRequest", err)
	}
	if err := reg(token, direct.Spec("0.0.0.0:443"), "odd"); !errors.As(err, &we) || we.Code != wire.CodeBadRequest {
		t.Fatalf("registering an unspecified address: %v, want BadRequest", err)
	}
	// Re-registering refreshes (a new label), and the relay is there once.
	if err := reg(token, good, "volunteer 2"); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	want := map[string]string{"static": "direct://198.51.100.1:443", "volunteer 2": good.String()}
	check := func(when string, got map[string]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: book relays %v, want %v", when, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: book relays %v, want %v", when, got, want)
			}
		}
	}
	check("after registering", bookRelays(t, ts, signer))
	// What the book publishes is a working path: a client gets through it.
	via := &testServer{addr: good.Addr, pub: ts.pub}
	connect(t, via, newIdentity(newAccount())).must(&wire.Ping{}, wire.TypePong)

	// The registry file is private and names no token.
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("registry mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), "intruder") || !strings.Contains(string(data), good.Addr) {
		t.Errorf("registry file: %s", data)
	}

	// A restart keeps the registered relay.
	ts.stop(t)
	ts2 := startServer(t, configure)
	check("after a restart", bookRelays(t, ts2, signer))

	// A server without registration refuses politely.
	ts3 := startServer(t, nil)
	r := &relay.Registration{Server: ts3.pub, Dialer: direct.NewDialer(ts3.addr), Token: token, Spec: good, Label: "x"}
	if err := r.Register(context.Background()); !errors.As(err, &we) || we.Code != wire.CodeNotFound {
		t.Fatalf("registering with a server without a registry: %v, want NotFound", err)
	}
}
