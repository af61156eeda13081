package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/obfs4"
	"github.com/samizdat-project/samizdat/transport/pt"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// Paths turns the reach candidates of a client (book entries, link
// entries, relays the user added) into transport dialers: the one place
// where the concrete transports are wired to the client. Each candidate's
// Proxy, when set, carries the TCP step through the user's SOCKS5 or HTTP
// proxy (reach.ProxyFromURL).
//
// "pt" candidates (spec pt://host:port?method=NAME&<the method's args>) run
// through an external pluggable-transport binary, started on first use and
// kept for the life of the Paths: PTPath (default $SAMIZDAT_PT_PATH, else
// /usr/bin/obfs4proxy), never a path from a link.
type Paths struct {
	PTPath string

	mu  sync.Mutex            // guards pts
	pts map[string]*pt.Client // by method
}

// NewPaths returns the CLI's dialer factory.
func NewPaths() *Paths {
	p := &Paths{PTPath: os.Getenv("SAMIZDAT_PT_PATH"), pts: map[string]*pt.Client{}}
	if p.PTPath == "" {
		p.PTPath = "/usr/bin/obfs4proxy"
	}
	return p
}

// ptMethodParam names the PT method in a "pt" spec.
const ptMethodParam = "method"

// Factory is the reach.DialerFactory.
func (p *Paths) Factory(c reach.Candidate) (transport.Dialer, error) {
	var tcp func(ctx context.Context, network, addr string) (net.Conn, error)
	if c.Proxy != "" {
		nd, err := reach.ProxyFromURL(c.Proxy, &net.Dialer{KeepAlive: 30 * time.Second})
		if err != nil {
			return nil, err
		}
		tcp = nd.DialContext
	}
	switch c.Spec.Name {
	case direct.Name:
		d, err := direct.DialerFromSpec(c.Spec)
		return through(d, err, func() { d.DialContext = tcp })
	case tlsws.Name:
		d, err := tlsws.DialerFromSpec(c.Spec)
		return through(d, err, func() { d.DialContext = tcp })
	case obfs4.Name:
		d, err := obfs4.NewDialer(c.Spec)
		return through(d, err, func() { d.DialContext = tcp })
	case "pt":
		if c.Proxy != "" {
			return nil, errors.New("a pluggable-transport path cannot go through a proxy yet; remove the proxy or use obfs4")
		}
		return p.ptDialer(c.Spec)
	}
	return nil, fmt.Errorf("transport %q is not known to this samizdat; update it", c.Spec.Name)
}

// through returns the dialer d made from a spec (or err) after setTCP
// pointed its TCP dial at the candidate's proxy (nil: direct).
func through[D transport.Dialer](d D, err error, setTCP func()) (transport.Dialer, error) {
	if err != nil {
		return nil, err
	}
	setTCP()
	return d, nil
}

// ptDialer starts (once) the PT binary for the spec's method and returns
// a dialer through it.
func (p *Paths) ptDialer(s transport.Spec) (transport.Dialer, error) {
	method := s.Get(ptMethodParam)
	if method == "" {
		return nil, errors.New("a pt path needs its method (pt://host:port?method=obfs4&...)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.pts[method]
	if c != nil {
		select {
		case <-c.Done(): // the child died: start a new one
			c = nil
		default:
		}
	}
	if c == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		c, err = pt.StartClient(ctx, pt.Config{Path: p.PTPath}, method)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("starting the pluggable transport %s: %w", p.PTPath, err)
		}
		p.pts[method] = c
	}
	inner := transport.Spec{Name: method, Addr: s.Addr, Params: map[string]string{}}
	for k, v := range s.Params {
		if k != ptMethodParam {
			inner.Params[k] = v
		}
	}
	return c.NewDialer(inner)
}

// Close stops the PT binaries started.
func (p *Paths) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for m, c := range p.pts {
		errs = append(errs, c.Close())
		delete(p.pts, m)
	}
	return errors.Join(errs...)
}

// reachOptions wires the paths into client options: the transports, the
// user's proxy ($SAMIZDAT_PROXY: socks5://host:port or http://host:port)
// and the keepalive ($SAMIZDAT_PING_INTERVAL, $SAMIZDAT_PING_TIMEOUT as Go
// durations; for the lab and tests).
func reachOptions(o *client.Options) {
	o.Paths = NewPaths().Factory
	o.Proxy = os.Getenv("SAMIZDAT_PROXY")
	if d, err := time.ParseDuration(os.Getenv("SAMIZDAT_PING_INTERVAL")); err == nil && d > 0 {
		o.PingInterval = d
	}
	if d, err := time.ParseDuration(os.Getenv("SAMIZDAT_PING_TIMEOUT")); err == nil && d > 0 {
		o.PingTimeout = d
	}
}
