package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
)

// Listener hands the WebSocket streams the handler accepts to whoever
// serves connections (server.Serve, relay.Serve): it is a net.Listener
// whose connections are browsers' WebSockets carried as byte streams.
type Listener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	ctx       context.Context // ends when the listener closes
	cancel    context.CancelFunc
}

// NewListener returns an open listener.
func NewListener() *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// ErrClosed is returned by Accept once the listener is closed.
var ErrClosed = errors.New("web: listener closed")

// Accept waits for the next browser stream.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and ends every stream not yet accepted; streams
// already accepted belong to their acceptor.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done); l.cancel() })
	return nil
}

// Feed hands every connection ln accepts to l as well, until either is
// closed: one acceptor (a relay's channel mirror) then serves both TCP
// followers and browsers.
func (l *Listener) Feed(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				l.Close()
				return
			}
			if !l.hand(l.ctx, c) {
				c.Close()
				ln.Close()
				return
			}
		}
	}()
}

// Addr names the listener; its streams come from the HTTP server.
func (l *Listener) Addr() net.Addr { return webAddr{} }

// hand gives c to Accept; it reports false if the listener is closed.
func (l *Listener) hand(ctx context.Context, c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	case <-ctx.Done():
		return false
	}
}

type webAddr struct{}

func (webAddr) Network() string { return "websocket" }
func (webAddr) String() string  { return "websocket" }

// remoteConn reports the browser's address (as the HTTP server saw it)
// so per-address limits keep working, and tells the handler when the
// stream is closed.
type remoteConn struct {
	net.Conn
	remote net.Addr
	closed chan struct{}
	once   sync.Once
}

func (c *remoteConn) RemoteAddr() net.Addr { return c.remote }

func (c *remoteConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// bridge carries the WebSocket stream ws through an in-memory pipe and
// returns the pipe's end for the acceptor. The acceptor sets read
// deadlines as on TCP and reads again after one expires (the server parks
// a session idle for a second, server/session.go); a deadline on ws itself
// (coder/websocket's NetConn) cancels the read and closes the WebSocket.
// A pipe's deadline only ends the read. Closing either side closes both.
func bridge(ws net.Conn) net.Conn {
	inner, outer := net.Pipe()
	go func() { io.Copy(outer, ws); outer.Close() }() // browser to acceptor
	go func() { io.Copy(ws, outer); ws.Close() }()    // acceptor to browser
	return inner
}

// tcpAddr parses an http.Request's RemoteAddr ("ip:port").
func tcpAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return webAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}
