package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// A device the server answers with DeviceRevoked (docs/spec/wire.md,
// "Accounts and devices") was removed from its account by another device.
// Nothing it retries can succeed, so the client records the revocation in
// its store, stops its connection, outbox and inbox loops for good, and
// every operation that needs the server fails with a *RevokedError that
// says what happened and what to do. The local history stays readable.

// RevokedError is returned by every operation that needs the server once
// the server has said that this device was revoked.
type RevokedError struct {
	// When is when this device first heard of the revocation (the server
	// does not say when it happened).
	When time.Time
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("client: this device was revoked from your account (the server refused it on %s); it no longer connects, "+
		"and messages still in its outbox will not be sent (its local history stays readable with 'samizdat read'). "+
		"To use this computer again, link it to your account again with 'samizdat device link --server LINK' "+
		"in a new home directory and approve it from another device, or run 'samizdat init' in a new home directory for a new account",
		e.When.UTC().Format("2006-01-02 15:04 MST"))
}

// revokedRecord is what the store keeps under ("self", "revoked").
type revokedRecord struct {
	When int64 `json:"when"` // Unix seconds
}

// loadRevoked reads the stored revocation, if any (called by Open).
func (c *Client) loadRevoked() error {
	t, err := c.store.begin(context.Background())
	if err != nil {
		return err
	}
	defer t.rollback()
	var r revokedRecord
	if t.get("self", []byte("revoked"), &r) {
		c.setRevoked(time.Unix(r.When, 0))
	}
	return t.err
}

// setRevoked marks the client revoked in memory (once) and stops it.
func (c *Client) setRevoked(when time.Time) {
	c.revokeOnce.Do(func() {
		c.revokedAt.Store(&when)
		close(c.revokedCh)
	})
	c.sessMu.Lock()
	cancel := c.cancel
	s := c.sess
	c.sessMu.Unlock()
	if cancel != nil {
		cancel()
	}
	if s != nil {
		s.close(errors.New("client: this device was revoked"))
	}
}

// Revoked reports whether the server told this device that it was revoked
// (now or in an earlier run), and when the device heard of it.
func (c *Client) Revoked() (time.Time, bool) {
	if p := c.revokedAt.Load(); p != nil {
		return *p, true
	}
	return time.Time{}, false
}

// RevokedNotify is closed when the client learns that this device was
// revoked (at once if it knew it when it was opened).
func (c *Client) RevokedNotify() <-chan struct{} { return c.revokedCh }

// revokedErr is the *RevokedError of a revoked client, or nil.
func (c *Client) revokedErr() error {
	if when, ok := c.Revoked(); ok {
		return &RevokedError{When: when}
	}
	return nil
}

// noteRevoked checks whether err is the server's DeviceRevoked; if so it
// records the revocation durably, stops the client and returns a
// *RevokedError. Any other err is returned unchanged.
func (c *Client) noteRevoked(err error) error {
	if err == nil || wireCode(err) != wire.CodeDeviceRevoked {
		return err
	}
	if _, ok := c.Revoked(); !ok {
		now := time.Now()
		if t, terr := c.store.begin(context.Background()); terr == nil {
			t.put("self", []byte("revoked"), revokedRecord{When: now.Unix()})
			if cerr := t.commit(); cerr != nil {
				c.logf("client: recording the revocation: %v", cerr)
			}
		}
		c.logf("client: the server says this device was revoked; stopping")
		c.setRevoked(now)
	}
	return c.revokedErr()
}
