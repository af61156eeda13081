package censor

import (
	"context"
	"net"
	"sync"
	"time"
)

// Intercept runs the engine on a real TCP flow, for the network-namespace
// harness: its transparent interceptor accepts the client's connection
// (redirected by nftables), reads the original destination with
// SO_ORIGINAL_DST, and calls Intercept with the flow's key and a way to dial
// that destination. Every Read on either side is one segment. On Open's
// Drop the server is never dialed and the client's bytes are swallowed until
// ctx ends or the client leaves (it sees a connection that never answers);
// on Reset both sides are closed with RST where the conn is a *net.TCPConn.
// Intercept returns when the flow is over.
func (e *Engine) Intercept(ctx context.Context, key FlowKey, client net.Conn, dialServer func(context.Context) (net.Conn, error)) error {
	defer client.Close()
	f, d := e.Open(key)
	defer f.Close()
	switch d.Verdict {
	case Reset:
		abort(client)
		return nil
	case Drop:
		go func() { <-ctx.Done(); client.Close() }()
		buf := make([]byte, 32<<10)
		for {
			if _, err := client.Read(buf); err != nil {
				return nil
			}
		}
	}
	server, err := dialServer(ctx)
	if err != nil {
		abort(client)
		return err
	}
	defer server.Close()
	var once sync.Once
	stop := func(rst bool) {
		once.Do(func() {
			if rst {
				abort(client)
				abort(server)
			}
			client.Close()
			server.Close()
		})
	}
	go func() { <-ctx.Done(); stop(false) }()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.pump(f, ClientToServer, client, server, stop) }()
	go func() { defer wg.Done(); e.pump(f, ServerToClient, server, client, stop) }()
	wg.Wait()
	return nil
}

// pump copies src to dst through the engine. Throttling sleeps on the
// engine's clock; drops swallow bytes; a stall or drop keeps reading (the
// sender sees a live connection that delivers nothing).
func (e *Engine) pump(f *Flow, dir Direction, src, dst net.Conn, stop func(rst bool)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			seg := buf[:n]
			d := f.Data(dir, seg)
			switch {
			case d.Verdict == Reset:
				stop(true)
				return
			case d.Verdict == Drop:
			default:
				if d.Stall {
					seg = seg[:d.Keep]
				}
				if d.Delay > 0 {
					sleep(e.clock, d.Delay)
				}
				if len(seg) > 0 {
					if _, werr := dst.Write(seg); werr != nil {
						stop(false)
						return
					}
				}
			}
		}
		if err != nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				stop(false)
			}
			return
		}
	}
}

func sleep(c Clock, d time.Duration) {
	done := make(chan struct{})
	c.AfterFunc(d, func() { close(done) })
	<-done
}

// abort closes c with an RST if it is a TCP conn, else just closes it.
func abort(c net.Conn) {
	if t, ok := c.(*net.TCPConn); ok {
		t.SetLinger(0)
	}
	c.Close()
}
