package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/obfs4"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// ParseUpstream reads where a relay forwards to, in any of these forms:
//
//	host:port                       the server's (or a relay's) TCP address
//	direct://host:port              a transport spec (also tlsws://…, obfs4://…)
//	samizdat://server?key=…&addr=…  a server link: its addresses, then its entries
//	samizdat://relay?p=…            a relay link: the next relay's entries
//
// (and the https:// forms of the links). It returns the candidate specs in
// order of preference. Links are read with reach.ParseLink; their signatures
// are not checked here, since the relay only forwards opaque bytes and the
// client pins the server key end to end.
func ParseUpstream(text string) ([]transport.Spec, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return nil, errors.New("relay: empty upstream: give the server's link or address")
	case strings.HasPrefix(text, "samizdat://") || strings.HasPrefix(text, "https://"):
		l, err := reach.ParseLink(text)
		if err != nil {
			return nil, fmt.Errorf("relay: reading the upstream link: %w", err)
		}
		var specs []transport.Spec
		for _, a := range l.Addrs {
			specs = append(specs, direct.Spec(a))
		}
		for _, se := range l.Entries {
			specs = append(specs, se.Entry.Spec)
		}
		for _, e := range l.Unsigned {
			specs = append(specs, e.Spec)
		}
		if len(specs) == 0 {
			return nil, errors.New("relay: the upstream link has no address or entry")
		}
		return specs, nil
	case strings.Contains(text, "://"):
		s, err := transport.ParseSpec(text)
		if err != nil {
			return nil, fmt.Errorf("relay: reading the upstream spec: %w", err)
		}
		return []transport.Spec{s}, nil
	}
	s := direct.Spec(text)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("relay: upstream %q is neither host:port, a transport spec nor a samizdat link", text)
	}
	return []transport.Spec{s}, nil
}

// DialerFor builds the dialer of one upstream spec. It knows the
// in-process transports (direct, tlsws, obfs4); a "pt" upstream would need
// a local PT binary and is refused (dial obfs4 in-process instead).
func DialerFor(s transport.Spec) (transport.Dialer, error) {
	switch s.Name {
	case direct.Name:
		return direct.DialerFromSpec(s)
	case tlsws.Name:
		return tlsws.DialerFromSpec(s)
	case obfs4.Name:
		return obfs4.NewDialer(s)
	}
	return nil, fmt.Errorf("relay: cannot dial an upstream of transport %q; use direct, tlsws or obfs4", s.Name)
}

// NewUpstream builds a Dialer that tries the specs in order and returns
// the first connection that succeeds. Specs it cannot dial are an error.
func NewUpstream(specs []transport.Spec) (transport.Dialer, error) {
	if len(specs) == 0 {
		return nil, errors.New("relay: no upstream")
	}
	ds := make([]transport.Dialer, 0, len(specs))
	for _, s := range specs {
		d, err := DialerFor(s)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	if len(ds) == 1 {
		return ds[0], nil
	}
	return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
		var errs []error
		for _, d := range ds {
			c, err := d.Dial(ctx)
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, fmt.Errorf("relay: every upstream failed: %w", errors.Join(errs...))
	}), nil
}

// Link returns the relay link for spec: a reach relay link with one
// unsigned relay entry (a volunteer's relay; the server may sign it later),
// labelled for people. Clients check the path end to end by the server key
// they already pin.
func Link(spec transport.Spec, label string) (reach.Link, error) {
	e := reach.Entry{ID: reach.UnsignedID(spec), Kind: reach.KindRelay, Label: label, Spec: spec}
	l := reach.Link{Unsigned: []reach.Entry{e}}
	if err := l.Validate(); err != nil {
		return reach.Link{}, fmt.Errorf("relay: making the relay link: %w", err)
	}
	return l, nil
}
