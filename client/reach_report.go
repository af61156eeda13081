package client

import (
	"context"
	"errors"

	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// Blocked relays and invitations (docs/spec/wire.md, "Distribution";
// server/distribution.go). While a session is up over one path, the client
// checks the server-signed relays of its book that have not worked on this
// network lately: one dial and secure-channel handshake each, one at a
// time. A relay that fails while the session works is blocked from here:
// it is backed off in the dialer's memory and reported (ReportBlocked, at
// most wire.MaxReportedRelays IDs), and the book the server answers with
// is merged: it revokes what the server judged blocked (or what this
// account reported) and brings replacements. The server counts reports
// only from trusted accounts and only for relays it handed them.

// Relay checks: how long one may take, how recently a relay must have
// worked to be left alone, and how long after connecting the first runs.
const (
	relayCheckTimeout = 10 * time.Second
	relayWorkedFresh  = 24 * time.Hour
	relayCheckDelay   = 2 * time.Second
)

// BookChange is what a book merged after a report or an invitation
// changed: relays reported blocked, revoked and newly handed, each as
// "label (entry ID)" or the ID alone (never an address).
type BookChange struct {
	Reported []string
	Revoked  []string
	Added    []string
}

func (b BookChange) String() string {
	return fmt.Sprintf("reported blocked %v; the server's book revoked %v and added %v", b.Reported, b.Revoked, b.Added)
}

// named replaces each ID with "label (ID)" where names has a label.
func named(ids []string, names map[string]string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if l := names[id]; l != "" && l != id {
			out[i] = l + " (" + id + ")"
		}
	}
	return out
}

// relayNames returns the IDs of the live relays of the cache, by ID.
func (c *Client) relayNames() map[string]string {
	out := map[string]string{}
	for _, r := range c.reach.cache.Records(time.Now()) {
		if r.Entry.Kind == reach.KindRelay {
			out[r.Entry.ID] = r.Entry.Label
		}
	}
	return out
}

// checkRelays runs once relayCheckDelay after the session came up and then
// with every book refresh, until done is closed.
func (c *Client) checkRelays(ctx context.Context, done <-chan struct{}, network string, using reach.Candidate) {
	for wait := relayCheckDelay; sleepUnless(ctx, done, wait); wait = bookRefresh {
		if failed := c.unreachableRelays(ctx, done, network, using); len(failed) > 0 {
			c.reportBlocked(ctx, failed)
		}
	}
}

// sleepUnless waits d and reports true, or false as soon as ctx ends or
// done is closed.
func sleepUnless(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-done:
		return false
	case <-time.After(d):
		return true
	}
}

// relayChecksAtOnce bounds the relays checked at the same time.
const relayChecksAtOnce = 4

// unreachableRelays dials the server-signed relays of the book that have
// not worked on network within relayWorkedFresh (not the path in use), a
// few at a time, and returns those whose dial or secure channel failed
// while the session stayed up.
func (c *Client) unreachableRelays(ctx context.Context, done <-chan struct{}, network string, using reach.Candidate) []string {
	factory := c.opts.Paths
	if factory == nil {
		factory = c.directOnly
	}
	mem := c.reach.racer.Memory()
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	slots := make(chan struct{}, relayChecksAtOnce)
	for _, cand := range c.reach.cache.Candidates(time.Now()) {
		if cand.Kind != reach.KindRelay || !cand.Signed || cand.ID == using.ID || time.Since(mem.LastWorked(network, cand.ID)) < relayWorkedFresh {
			continue
		}
		cand.Proxy = c.opts.Proxy
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := c.tryRelay(ctx, factory, cand)
			if err == nil {
				mem.Succeeded(network, cand.ID, time.Now())
				return
			}
			mu.Lock()
			failed = append(failed, cand.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case <-done:
		return nil // the session ended: a failure now proves nothing
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	slices.Sort(failed)
	failed = failed[:min(len(failed), wire.MaxReportedRelays)]
	for _, cand := range c.reach.cache.Candidates(time.Now()) {
		if slices.Contains(failed, cand.ID) {
			c.reach.racer.Failed(network, cand, errRelayUnreachable)
		}
	}
	return failed
}

// errRelayUnreachable is what a relay that failed its check is backed off
// with.
var errRelayUnreachable = errors.New("client: the relay did not answer its check while another path worked")

// tryRelay dials cand and runs the secure channel with our server over it.
func (c *Client) tryRelay(ctx context.Context, factory reach.DialerFactory, cand reach.Candidate) error {
	d, err := factory(cand)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, relayCheckTimeout)
	defer cancel()
	nc, err := d.Dial(cctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(cctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	dev := c.keys.device()
	defer clear(dev)
	sc, err := secureClient(cctx, nc, c.keys.Server, dev)
	if err != nil {
		return err
	}
	return sc.Close()
}

// reportBlocked sends ReportBlocked for ids over the session in use and
// merges the book it answers with.
func (c *Client) reportBlocked(ctx context.Context, ids []string) {
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	if s == nil {
		return
	}
	if err := c.bookCall(ctx, s, &wire.ReportBlocked{IDs: ids}, BookChange{Reported: ids}); err != nil {
		c.logf("client: reporting %d blocked relays: %v", len(ids), err)
	}
}

// bookCall sends req (FetchBook or ReportBlocked) over s, merges the Book
// it answers with and, when the book changed or ch reports something,
// logs the change and tells OnBook.
func (c *Client) bookCall(ctx context.Context, s *session, req wire.Message, ch BookChange) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c.reach.bookMu.Lock() // so that each change is told once
	defer c.reach.bookMu.Unlock()
	before := c.relayNames()
	resp, err := s.call(cctx, req)
	if err != nil {
		return err
	}
	b, ok := resp.(*wire.Book)
	if !ok {
		return fmt.Errorf("client: %v answered with %v", req.Type(), resp.Type())
	}
	if _, err := c.reach.cache.MergeBook(b.Data, time.Now()); err != nil {
		return fmt.Errorf("client: the server's endpoint book does not verify: %w", err)
	}
	c.saveReach()
	after := c.relayNames()
	for id := range before {
		if _, ok := after[id]; !ok {
			ch.Revoked = append(ch.Revoked, id)
		}
	}
	for id := range after {
		if _, ok := before[id]; !ok {
			ch.Added = append(ch.Added, id)
		}
	}
	if len(ch.Reported)+len(ch.Revoked)+len(ch.Added) == 0 {
		return nil
	}
	slices.Sort(ch.Revoked)
	slices.Sort(ch.Added)
	ch.Reported, ch.Revoked, ch.Added = named(ch.Reported, before), named(ch.Revoked, before), named(ch.Added, after)
	c.logf("client: %v", ch)
	if c.opts.OnBook != nil {
		c.opts.OnBook(ch)
	}
	return nil
}

// FetchBook fetches the endpoint book now and merges it (the client also
// does so on connecting and every few hours by itself).
func (c *Client) FetchBook(ctx context.Context) error {
	if c.reach == nil {
		return nil
	}
	s, err := c.online(ctx)
	if err != nil {
		return err
	}
	err = c.bookCall(ctx, s, &wire.FetchBook{Have: c.reach.cache.Version()}, BookChange{})
	if err != nil && wireCode(err) != wire.CodeNotFound {
		return userError("fetching the endpoint book", err)
	}
	return nil
}

// RequestInvitation asks the server for an invitation token to hand to a
// new user with the invite link: it takes them out of probation, so they
// are handed relays beyond the ones every new account shares. Only
// accounts past probation may invite, a few per week.
func (c *Client) RequestInvitation(ctx context.Context) ([]byte, error) {
	s, err := c.online(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(ctx, &wire.RequestInvitation{})
	if err != nil {
		return nil, userError("asking for an invitation", err)
	}
	return resp.(*wire.Invitation).Token, nil
}

// RedeemInvitation records with the server that this account was invited
// by the token's issuer, then fetches the book (which now holds relays of
// an invited account once it is past the trust age).
func (c *Client) RedeemInvitation(ctx context.Context, token []byte) error {
	s, err := c.online(ctx)
	if err != nil {
		return err
	}
	if _, err := s.call(ctx, &wire.RedeemInvitation{Token: token}); err != nil {
		return userError("redeeming the invitation", err)
	}
	return c.FetchBook(ctx)
}
