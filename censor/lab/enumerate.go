package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// fakeClients is the enumerating censor's side of the real system: each
// fake client is a fresh account with a fresh device that connects to the
// server from the censor's own range, registers, and asks for its edition
// of the signed endpoint book (FetchBook), exactly as a new user's app
// does. It learns the relays of the public server link plus its own slice.
type fakeClients struct {
	link   reach.Link
	server client.ServerLink
	dial   func(ctx context.Context, addr string) (net.Conn, error)
}

func newFakeClients(linkText string, dial func(ctx context.Context, addr string) (net.Conn, error)) (*fakeClients, error) {
	l, err := reach.ParseLink(linkText)
	if err != nil {
		return nil, err
	}
	sl, err := client.ParseServerLink(linkText)
	if err != nil {
		return nil, err
	}
	if len(sl.Addrs) == 0 {
		return nil, errors.New("lab: the server link has no address")
	}
	return &fakeClients{link: l, server: sl, dial: dial}, nil
}

// ask is censor.Hooks.Ask: fake client i's relays (the relay and front
// entries it verified; not the server's direct address, which is the IP
// blocklist's business).
func (f *fakeClients) ask(ctx context.Context, i int) ([]netip.AddrPort, error) {
	id, ok := f.link.ServerID()
	if !ok {
		return nil, errors.New("lab: the server link has no book key")
	}
	data, err := f.fetchBook(ctx)
	if err != nil {
		return nil, err
	}
	book, err := reach.VerifyBook(data, id, time.Now())
	if err != nil {
		return nil, fmt.Errorf("fake client %d: the book does not verify: %w", i, err)
	}
	var out []netip.AddrPort
	add := func(e reach.Entry) {
		if e.Kind == reach.KindDirect {
			return
		}
		host, port, err := net.SplitHostPort(e.Spec.Addr)
		if err != nil {
			return
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err == nil {
			out = append(out, ap)
		}
	}
	for _, se := range f.link.Entries {
		add(se.Entry)
	}
	for _, se := range book.Entries {
		add(se.Entry)
	}
	return out, nil
}

// fetchBook runs one fresh account through the secure channel: hello,
// RegisterDevice, FetchBook.
func (f *fakeClients) fetchBook(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, acct, _ := ed25519.GenerateKey(rand.Reader)
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	nc, err := f.dial(ctx, f.server.Addrs[0])
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	sc, err := securechan.Client(ctx, nc, securechan.ClientConfig{ServerPublic: f.server.Key, DeviceKey: dev, Padding: securechan.PadToMultiple(256)})
	if err != nil {
		return nil, fmt.Errorf("secure channel: %w", err)
	}
	s := client.NewSession(sc, nil)                         // the client's request/answer matching
	defer s.End(errors.New("lab: the fake client is done")) // closes sc
	if _, err := s.Hello(ctx); err != nil {
		return nil, fmt.Errorf("ClientHello: %w", err)
	}
	var ak wire.AccountKey
	var dk wire.DeviceKey
	copy(ak[:], acct.Public().(ed25519.PublicKey))
	copy(dk[:], dev.Public().(ed25519.PublicKey))
	if _, err := s.Call(ctx, &wire.RegisterDevice{AccountKey: ak, DeviceCert: client.SignDevice(acct, client.DeviceKey(dk))}); err != nil {
		return nil, fmt.Errorf("RegisterDevice: %w", err)
	}
	resp, err := s.Call(ctx, &wire.FetchBook{})
	if err != nil {
		return nil, fmt.Errorf("FetchBook: %w", err)
	}
	book, ok := resp.(*wire.Book)
	if !ok {
		return nil, fmt.Errorf("FetchBook answered with %v", resp.Type())
	}
	return book.Data, nil
}
