package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// ReachConfig makes the server publish a signed endpoint book (package
// reach): every registered device that sends FetchBook gets the direct and
// front entries plus its own slice of the relays, all signed with the book
// key. Entries are signed with an expiry of Validity and re-signed (with a
// higher serial) once half of it has passed, so a client that refreshes
// while connected never holds an expired path.
type ReachConfig struct {
	Signer      *reach.Signer // the book key; required
	SliceSecret []byte        // keys the relay slices; at least 16 bytes, secret
	// Entries are the paths to publish: KindDirect and KindFront entries go
	// to everyone, KindRelay entries are sliced. ID, Kind, Label and Spec
	// are used; Serial and NotAfter are set when signing.
	Entries   []reach.Entry
	SliceSize int // live relays per account in its pool (default 3)
	// Period is the period of the invitation rate (default 7 days).
	Period time.Duration
	// Distribution (distribution.go): an account is on probation until it
	// is older than TrustAge (default 3 days) and was invited by a trusted
	// account or the operator; on probation it draws only from the
	// probation bucket, the ProbationShare of the relays (default 0.1,
	// reach.Probation) that does not widen when its relays are blocked. A
	// negative TrustAge turns probation off.
	TrustAge       time.Duration
	ProbationShare float64
	// RevealEvery: after its first SliceSize relays of a pool, an account
	// is handed at most one more per RevealEvery (default 1 day).
	RevealEvery time.Duration
	// InvitesPerPeriod: invitations a trusted account may ask for per
	// Period (default 2).
	InvitesPerPeriod int
	// ReportThreshold: independent trusted accounts that must report a
	// relay they were handed before it counts as blocked (default 2).
	ReportThreshold int
	// LedgerFile keeps who invited whom, the relays handed to each account
	// and the blocked relays across restarts; empty: in memory only.
	LedgerFile string
	Validity   time.Duration // lifetime of a signed entry (default 30 days)
	// Registration, if set, lets volunteer relays that hold the
	// operator's token add themselves (RegisterRelay; relayreg.go).
	Registration *RelayRegistration
}

// bookIssuer signs entries and cuts books.
type bookIssuer struct {
	cfg  ReachConfig
	now  func() time.Time
	dist *distributor // who gets which relays (distribution.go)

	mu       sync.Mutex // guards signed, signedAt and registered
	signed   map[string]reach.SignedEntry
	signedAt time.Time
	// registered are the relays that registered themselves, by ID, with
	// the time of their last registration (relayreg.go).
	registered map[string]registeredRelay
}

func newBookIssuer(cfg ReachConfig, now func() time.Time) (*bookIssuer, error) {
	if cfg.Signer == nil {
		return nil, errors.New("server: config: Reach.Signer is missing")
	}
	if len(cfg.SliceSecret) < 16 {
		return nil, errors.New("server: config: Reach.SliceSecret must be at least 16 bytes")
	}
	if cfg.SliceSize <= 0 {
		cfg.SliceSize = 3
	}
	setDefault(&cfg.Period, 7*24*time.Hour)
	if cfg.TrustAge == 0 {
		cfg.TrustAge = 72 * time.Hour
	}
	if cfg.ProbationShare == 0 {
		cfg.ProbationShare = 0.1
	}
	if cfg.ProbationShare < 0 || cfg.ProbationShare >= 1 {
		return nil, errors.New("server: config: Reach.ProbationShare must be in (0, 1)")
	}
	setDefault(&cfg.Validity, 30*24*time.Hour)
	setDefault(&cfg.RevealEvery, 24*time.Hour)
	if cfg.InvitesPerPeriod <= 0 {
		cfg.InvitesPerPeriod = 2
	}
	if cfg.ReportThreshold <= 0 {
		cfg.ReportThreshold = 2
	}
	seen := map[string]bool{}
	for _, e := range cfg.Entries {
		if seen[e.ID] {
			return nil, fmt.Errorf("server: config: endpoint %q listed twice", e.ID)
		}
		seen[e.ID] = true
		e.NotAfter = now().Add(cfg.Validity)
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("server: config: endpoint %q: %w", e.ID, err)
		}
	}
	dist, err := newDistributor(cfg, now())
	if err != nil {
		return nil, err
	}
	b := &bookIssuer{cfg: cfg, now: now, dist: dist}
	if err := b.loadRegistered(); err != nil { // relayreg.go
		return nil, err
	}
	if _, err := b.entries(); err != nil {
		return nil, err
	}
	return b, nil
}

// entries returns every entry signed, re-signing them all once half of
// their validity has passed. The serial is the signing time in Unix
// seconds, so a re-signed entry wins every merge.
func (b *bookIssuer) entries() (map[string]reach.SignedEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.signed != nil && now.Sub(b.signedAt) < b.cfg.Validity/2 {
		return b.signed, nil
	}
	list := b.listLocked(now)
	signed := make(map[string]reach.SignedEntry, len(list))
	for _, e := range list {
		e.Serial = uint64(now.Unix())
		e.NotAfter = now.Add(b.cfg.Validity)
		se, err := b.cfg.Signer.SignEntry(e)
		if err != nil {
			return nil, fmt.Errorf("server: signing the endpoint book: %w", err)
		}
		signed[e.ID] = se
	}
	b.signed, b.signedAt = signed, now
	return signed, nil
}

// Signed returns the signed entries of the ids asked for, in that order
// (for the server link); unknown ids are skipped.
func (b *bookIssuer) Signed(ids ...string) []reach.SignedEntry {
	all, err := b.entries()
	if err != nil {
		return nil
	}
	var out []reach.SignedEntry
	for _, id := range ids {
		if se, ok := all[id]; ok {
			out = append(out, se)
		}
	}
	return out
}

// book cuts the edition of account, registered at registered: direct and
// front entries in configuration order, then the account's relays
// (distribution.go), revoking those it holds that were judged blocked.
func (b *bookIssuer) book(account store.AccountID, registered time.Time) ([]byte, error) {
	all, err := b.entries()
	if err != nil {
		return nil, err
	}
	now := b.now()
	b.mu.Lock()
	list := b.listLocked(now)
	b.mu.Unlock()
	var out, relays []reach.SignedEntry
	for _, e := range list {
		se, ok := all[e.ID]
		switch {
		case !ok:
		case e.Kind == reach.KindRelay:
			relays = append(relays, se)
		default:
			out = append(out, se)
		}
	}
	h, err := b.dist.hand(account, registered, relays, now)
	if err != nil {
		return nil, err
	}
	var revoked []reach.Revocation
	for _, id := range h.revoked {
		revoked = append(revoked, reach.Revocation{ID: id, Serial: all[id].Entry.Serial})
	}
	// The version is the issue time: strictly increasing across restarts
	// as long as the clock is.
	return b.cfg.Signer.SignBook(uint64(now.UnixNano()), now, append(out, h.relays...), revoked)
}

// fetchBook answers FetchBook with the account's edition of the book.
func (ss *session) fetchBook(*wire.FetchBook) wire.Message {
	if ss.srv.book == nil {
		return wire.Errorf(wire.CodeNotFound, "this server publishes no endpoint book")
	}
	acct, registered, e := ss.accountAge()
	if e != nil {
		return e
	}
	return ss.bookOf(acct, registered)
}

// accountAge returns the session's account and when its first device
// registered.
func (ss *session) accountAge() (store.AccountID, time.Time, *wire.Error) {
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	dev, err := ss.srv.cfg.Store.Device(ctx, ss.device)
	if err != nil {
		return store.AccountID{}, time.Time{}, ss.storeError("device lookup for its book", err)
	}
	registered := dev.CreatedAt
	if devs, err := ss.srv.cfg.Store.DevicesOf(ctx, dev.Account); err == nil && len(devs) > 0 && devs[0].CreatedAt.Before(registered) {
		registered = devs[0].CreatedAt
	}
	return dev.Account, registered, nil
}

// bookOf answers with the account's edition of the book.
func (ss *session) bookOf(acct store.AccountID, registered time.Time) wire.Message {
	data, err := ss.srv.book.book(acct, registered)
	if err != nil {
		ss.srv.log.Error("cutting an endpoint book failed", "err", err)
		return wire.Errorf(wire.CodeInternal, "the server could not sign its endpoint book")
	}
	if len(data) > wire.MaxBook {
		ss.srv.log.Error("endpoint book over the wire limit; publish fewer endpoints", "bytes", len(data))
		return wire.Errorf(wire.CodeInternal, "the server's endpoint book is too large")
	}
	return &wire.Book{Data: data}
}

// BookEntries returns the signed entries with these ids (for the server
// link); nil when the server publishes no book.
func (s *Server) BookEntries(ids ...string) []reach.SignedEntry {
	if s.book == nil {
		return nil
	}
	return s.book.Signed(ids...)
}
