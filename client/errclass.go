package client

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/samizdat-project/samizdat/wire"
)

// Error classes (issue #11): what went wrong, told apart, each with what
// to do next. A user who reads "check your network" when the server's key
// does not match the link would retry into an interception.

// UnreachableError: no address of the server answered (a dial failed or
// timed out): the network, a wrong host, or a server that is down.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("client: cannot reach the server at %s (%v); check your network and that the server is running", e.Addr, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IdentityError: something answered at the server's address but could not
// prove that it holds the key pinned in the server link. Either the link
// is out of date (the server's key changed) or the connection is being
// intercepted. Retrying does not help; checking the link does.
type IdentityError struct {
	Addr string
	Err  error
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("client: the server at %s answered but could not prove it is the server of your link (possible interception, or an outdated server link); do not trust this network, and check the server link with its operator", e.Addr)
}

func (e *IdentityError) Unwrap() error { return e.Err }

// RefusedError: the server answered and refused (a protocol error code).
type RefusedError struct {
	Doing string
	Code  wire.ErrorCode
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("client: the server refused %s: %s %s", e.Doing, e.Code.Text(), e.Code.Action())
}

// Is matches the wire error of the same code.
func (e *RefusedError) Is(target error) bool {
	var we *wire.Error
	return errors.As(target, &we) && we.Code == e.Code
}

// ErrServerFull: the server is out of space (wire.CodeStorageFull);
// nothing is lost, the outbox waits and retries.
var ErrServerFull = errors.New("client: the server is out of space; your message waits in the outbox and is retried")

// DamagedStoreError: the local store is unreadable (a disk fault, a
// truncated copy), which is not the same as no account at all.
type DamagedStoreError struct {
	Path string
	Err  error
}

func (e *DamagedStoreError) Error() string {
	return fmt.Sprintf("client: the local store %s is damaged (%v): restore the home directory from a backup, or link this device again from another of your devices ('samizdat device link'); keep the damaged file, do not run 'init' over it", e.Path, e.Err)
}

func (e *DamagedStoreError) Unwrap() error { return e.Err }

// LastConnectError is why the last connection attempt failed (nil after a
// success, or before any): an *UnreachableError, an *IdentityError, a
// *RefusedError or a *RevokedError.
func (c *Client) LastConnectError() error {
	p := c.connErr.Load()
	if p == nil {
		return nil
	}
	return *p
}

// noteConnect records the outcome of a connection attempt. Paths are
// raced: until a success, an identity failure on one path is not hidden
// by another path that merely could not be reached.
func (c *Client) noteConnect(err error) {
	if err == nil {
		c.connErr.Store(nil)
		return
	}
	var un *UnreachableError
	if prev := c.connErr.Load(); prev != nil && errors.As(err, &un) {
		var id *IdentityError
		if errors.As(*prev, &id) {
			return
		}
	}
	c.connErr.Store(&err)
}

// handshakeError classifies a failed secure-channel handshake over a
// connection that was made: a timeout is a path that does not answer; a
// refusal or a reply that does not authenticate is a server that cannot
// prove the link's key.
func handshakeError(addr string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &UnreachableError{Addr: addr, Err: err}
	}
	return &IdentityError{Addr: addr, Err: err}
}
