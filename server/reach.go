package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/reach"
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
	SliceSize int           // relays per client and period (default 3)
	Period    time.Duration // slice period (default 7 days)
	// A device registered less than TrustAge ago (default 3 days) is on
	// probation: its slice is drawn only from the probation bucket, the
	// ProbationShare of the relays (default 0.1) that fresh accounts share
	// (reach.Probation). A censor's fresh accounts then learn that bucket
	// and nothing else. A negative TrustAge turns probation off.
	TrustAge       time.Duration
	ProbationShare float64
	Validity       time.Duration // lifetime of a signed entry (default 30 days)
	// Registration, if set, lets volunteer relays that hold the
	// operator's token add themselves (RegisterRelay; relayreg.go).
	Registration *RelayRegistration
}

// bookIssuer signs entries and cuts books.
type bookIssuer struct {
	cfg ReachConfig
	now func() time.Time

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
	b := &bookIssuer{cfg: cfg, now: now}
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

// book cuts the edition of client clientID, registered at registered:
// direct and front entries in configuration order, then the client's slice
// of relays, drawn from the probation bucket while the client is younger
// than TrustAge.
func (b *bookIssuer) book(clientID []byte, registered time.Time) ([]byte, error) {
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
		if e.Kind == reach.KindRelay {
			if se, ok := all[e.ID]; ok {
				relays = append(relays, se)
			}
		} else if se, ok := all[e.ID]; ok {
			out = append(out, se)
		}
	}
	if b.cfg.TrustAge > 0 {
		probation, trusted := reach.Probation(b.cfg.SliceSecret, relays, b.cfg.ProbationShare)
		if now.Sub(registered) < b.cfg.TrustAge || len(trusted) == 0 {
			relays = probation
		} else {
			relays = trusted
		}
	}
	out = append(out, reach.Slice(b.cfg.SliceSecret, reach.Period(now, b.cfg.Period), clientID, relays, b.cfg.SliceSize)...)
	// The version is the issue time: strictly increasing across restarts
	// as long as the clock is.
	return b.cfg.Signer.SignBook(uint64(now.UnixNano()), now, out, nil)
}

// fetchBook answers FetchBook with the device's edition of the book.
func (ss *session) fetchBook(*wire.FetchBook) wire.Message {
	b := ss.srv.book
	if b == nil {
		return wire.Errorf(wire.CodeNotFound, "this server publishes no endpoint book")
	}
	ctx, cancel := ss.srv.storeCtx()
	dev, err := ss.srv.cfg.Store.Device(ctx, ss.device)
	cancel()
	if err != nil {
		return ss.storeError("device lookup for its book", err)
	}
	data, err := b.book(ss.device[:], dev.CreatedAt)
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
