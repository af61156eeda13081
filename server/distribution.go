package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/store"
)

// Relay distribution (reach/doc.go, "Distribution against enumeration";
// docs/spec/wire.md, "Distribution"). The server hands each account its own
// relays through reach.Distribution with NeedInvite and FixedBucket:
//
//   - standing: an account is trusted once it is older than TrustAge and was
//     invited by a trusted account or the operator (its redeemed invitation
//     names the inviter); every other account stays on probation, however
//     old, and draws only from the probation bucket, drawn over every
//     published relay, blocked ones included, so it never widens;
//   - books are kept, not recomputed: the relays handed to an account are
//     recorded, and the same account asking again gets the same relays; it
//     is handed new ones only while it holds fewer than SliceSize live
//     relays of its pool, and then at most SliceSize plus one per
//     RevealEvery since its first relay of that pool (the reveal rate);
//   - blocked relays: a trusted account reports relays it was handed that
//     fail for it (ReportBlocked); they leave its own book. A relay counts
//     as blocked once ReportThreshold independent trusted accounts report
//     it; it is then revoked in the books of every account that holds it
//     and handed to no one. Each holder's next book brings a replacement
//     from its own pool, within its reveal rate.
//
// The ledger keeps this in memory and, with LedgerFile, in a JSON file
// rewritten on each change (docs/what-the-server-knows.md lists it).

// ledger is the distribution state. Account keys are hex account IDs.
type ledger struct {
	// Since is when the server began to keep the ledger: accounts older
	// than that count as invited by the operator (they were trusted by age
	// before invitations existed).
	Since    time.Time              `json:"since"`
	Accounts map[string]*ledgerAcct `json:"accounts"`
	Redeemed map[string]time.Time   `json:"redeemed"` // invitation nonce (hex) -> its expiry
	// Reports: relay ID -> reporting account -> when (for ReportWindow).
	Reports map[string]map[string]time.Time `json:"reports"`
	Blocked map[string]time.Time            `json:"blocked"` // relay ID -> when judged blocked
}

type ledgerAcct struct {
	Inviter   string               `json:"inviter,omitempty"` // hex account ID, or operatorInviter
	InvitedAt time.Time            `json:"invited_at,omitzero"`
	Held      map[string]heldRelay `json:"held,omitempty"`    // relay ID -> when and at which level
	Dropped   map[string]time.Time `json:"dropped,omitempty"` // relays it reported: out of its own book
	Issued    []time.Time          `json:"issued,omitempty"`  // invitations issued, for the rate
}

type heldRelay struct {
	At      time.Time `json:"at"`
	Trusted bool      `json:"trusted,omitempty"` // handed from the trusted pool
}

// operatorInviter is the inviter of an account the operator invited.
const operatorInviter = "operator"

// reportWindow is how long a report counts towards a block.
const reportWindow = 24 * time.Hour

// distributor applies the policy; its methods lock mu.
type distributor struct {
	d         reach.Distribution
	key       []byte // invitation key (reach.InvitationKey)
	threshold int
	every     time.Duration // reveal rate: one more relay per every
	invites   int           // invitations per account and period
	period    time.Duration
	file      string
	open      bool // no probation: every account draws from every relay

	mu sync.Mutex
	l  ledger
}

func newDistributor(cfg ReachConfig, now time.Time) (*distributor, error) {
	dd := &distributor{
		d: reach.Distribution{Secret: cfg.SliceSecret, TrustAge: max(cfg.TrustAge, 0), ProbationShare: cfg.ProbationShare,
			K: cfg.SliceSize, NeedInvite: true, FixedBucket: true},
		key: reach.InvitationKey(cfg.SliceSecret), threshold: cfg.ReportThreshold, every: cfg.RevealEvery,
		invites: cfg.InvitesPerPeriod, period: cfg.Period, file: cfg.LedgerFile,
		l: ledger{Since: now.UTC().Truncate(time.Second), // the store keeps seconds
			Accounts: map[string]*ledgerAcct{}, Redeemed: map[string]time.Time{},
			Reports: map[string]map[string]time.Time{}, Blocked: map[string]time.Time{}},
	}
	dd.open = cfg.TrustAge < 0 // probation off: every relay for everyone
	if dd.file == "" {
		return dd, nil
	}
	data, err := os.ReadFile(dd.file)
	if errors.Is(err, fs.ErrNotExist) {
		return dd, dd.saveLocked()
	}
	if err != nil {
		return nil, fmt.Errorf("server: reading the distribution ledger: %w", err)
	}
	if err := json.Unmarshal(data, &dd.l); err != nil {
		return nil, fmt.Errorf("server: reading the distribution ledger %s (move it away to start afresh): %w", dd.file, err)
	}
	for _, m := range []*map[string]time.Time{&dd.l.Redeemed, &dd.l.Blocked} {
		if *m == nil {
			*m = map[string]time.Time{}
		}
	}
	if dd.l.Accounts == nil {
		dd.l.Accounts = map[string]*ledgerAcct{}
	}
	if dd.l.Reports == nil {
		dd.l.Reports = map[string]map[string]time.Time{}
	}
	return dd, nil
}

// saveLocked writes the ledger to its file, if it has one.
func (dd *distributor) saveLocked() error {
	if dd.file == "" {
		return nil
	}
	data, err := json.Marshal(&dd.l)
	if err != nil {
		return fmt.Errorf("server: saving the distribution ledger: %w", err)
	}
	if err := atomicfile.Write(dd.file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("server: saving the distribution ledger: %w", err)
	}
	return nil
}

// acctLocked returns the record of account, creating it.
func (dd *distributor) acctLocked(account store.AccountID) *ledgerAcct {
	k := hex.EncodeToString(account[:])
	a := dd.l.Accounts[k]
	if a == nil {
		a = &ledgerAcct{}
		dd.l.Accounts[k] = a
	}
	return a
}

// standingLocked is account as reach.Distribution sees it: registered is
// the account's first device's registration.
func (dd *distributor) standingLocked(account store.AccountID, registered time.Time) reach.Account {
	a := dd.l.Accounts[hex.EncodeToString(account[:])]
	invited := a != nil && a.Inviter != ""
	if registered.Before(dd.l.Since) {
		invited = true // before the ledger: trusted by age, as then
	}
	return reach.Account{ID: account[:], Registered: registered, InvitedByTrusted: invited}
}

// trustedLocked reports whether account is past probation.
func (dd *distributor) trustedLocked(account store.AccountID, registered time.Time, now time.Time) bool {
	return dd.open || dd.d.Trusted(dd.standingLocked(account, registered), now)
}

// blockedLocked is the set of relays judged blocked.
func (dd *distributor) blockedLocked() map[string]bool {
	out := make(map[string]bool, len(dd.l.Blocked))
	for id := range dd.l.Blocked {
		out[id] = true
	}
	return out
}

// handout is one account's relays at now: what its book carries and what
// it revokes. relays are every published relay, signed.
type handout struct {
	relays  []reach.SignedEntry
	revoked []string // held relays judged blocked
}

// hand records and returns account's relays: the ones it holds that are
// not blocked, plus new ones from its pool while it holds fewer than K
// live ones there, within its reveal rate.
func (dd *distributor) hand(account store.AccountID, registered time.Time, relays []reach.SignedEntry, now time.Time) (handout, error) {
	dd.mu.Lock()
	defer dd.mu.Unlock()
	st := dd.standingLocked(account, registered)
	blocked := dd.blockedLocked()
	pool, trusted := dd.d.Pool(st, relays, blocked, now)
	if dd.open {
		pool, trusted = relays, true
	}
	a := dd.acctLocked(account)
	for id := range a.Dropped { // what it reported is blocked for it
		blocked[id] = true
	}
	held := map[string]bool{}
	inPool, first := 0, now
	for _, se := range pool {
		if h, ok := a.Held[se.Entry.ID]; ok && h.Trusted == trusted {
			if !blocked[se.Entry.ID] {
				inPool++
			}
			first = minTime(first, h.At)
		}
	}
	for id := range a.Held {
		held[id] = true
	}
	changed := false
	if want := min(dd.d.K-inPool, dd.allowanceLocked(a, trusted, first, now)); want > 0 {
		for _, se := range dd.d.Reveal(st, pool, held, blocked, want) {
			if a.Held == nil {
				a.Held = map[string]heldRelay{}
			}
			a.Held[se.Entry.ID] = heldRelay{At: now.UTC(), Trusted: trusted}
			held[se.Entry.ID] = true
			changed = true
		}
	}
	var out handout
	for _, se := range relays {
		switch id := se.Entry.ID; {
		case held[id] && blocked[id]:
			out.revoked = append(out.revoked, id)
		case held[id]:
			out.relays = append(out.relays, se)
		}
	}
	if changed {
		return out, dd.saveLocked()
	}
	return out, nil
}

// allowanceLocked is how many more relays of one level a may be handed:
// K at first, one more per RevealEvery since its first relay of that level.
func (dd *distributor) allowanceLocked(a *ledgerAcct, trusted bool, first, now time.Time) int {
	n := dd.d.K
	if dd.every > 0 {
		n += int(now.Sub(first) / dd.every)
	}
	for _, h := range a.Held {
		if h.Trusted == trusted {
			n--
		}
	}
	return n
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Errors of the distributor, which the session turns into wire errors.
var (
	errOnProbation   = errors.New("server: this account is on probation")
	errInvitesSpent  = errors.New("server: this account's invitations of the period are spent")
	errTokenUsed     = errors.New("server: this invitation was redeemed already")
	errHasInviter    = errors.New("server: this account was invited already")
	errInviteeIssuer = errors.New("server: an account cannot redeem its own invitation")
)

// issue mints an invitation for a trusted account, within its rate.
func (dd *distributor) issue(account store.AccountID, registered time.Time, nonce [16]byte, now time.Time, valid time.Duration) ([]byte, error) {
	dd.mu.Lock()
	defer dd.mu.Unlock()
	if !dd.trustedLocked(account, registered, now) {
		return nil, errOnProbation
	}
	a := dd.acctLocked(account)
	recent := a.Issued[:0]
	for _, t := range a.Issued {
		if now.Sub(t) < dd.period {
			recent = append(recent, t)
		}
	}
	a.Issued = recent
	if len(recent) >= dd.invites {
		return nil, errInvitesSpent
	}
	a.Issued = append(a.Issued, now.UTC())
	tok := reach.MintInvitation(dd.key, reach.Invitation{Issuer: account, Nonce: nonce, NotAfter: now.Add(valid)})
	return tok, dd.saveLocked()
}

// redeem records the token's issuer as account's inviter.
func (dd *distributor) redeem(account store.AccountID, token []byte, now time.Time) error {
	in, err := reach.OpenInvitation(dd.key, token, now)
	if err != nil {
		return err
	}
	dd.mu.Lock()
	defer dd.mu.Unlock()
	nonce := hex.EncodeToString(in.Nonce[:])
	if _, used := dd.l.Redeemed[nonce]; used {
		return errTokenUsed
	}
	if in.Issuer == account {
		return errInviteeIssuer
	}
	a := dd.acctLocked(account)
	if a.Inviter != "" {
		return errHasInviter
	}
	for n, exp := range dd.l.Redeemed {
		if !now.Before(exp) {
			delete(dd.l.Redeemed, n)
		}
	}
	dd.l.Redeemed[nonce] = in.NotAfter
	a.Inviter, a.InvitedAt = operatorInviter, now.UTC()
	if !in.Operator() {
		a.Inviter = hex.EncodeToString(in.Issuer[:])
	}
	return dd.saveLocked()
}

// report counts account's report of ids: only from a trusted account, only
// for relays it was handed and that are not blocked yet. A reported relay
// leaves the reporter's own book at once (its replacement comes within the
// reveal rate, so reporting shows it nothing sooner than waiting would); a
// relay with threshold independent reporters within reportWindow is judged
// blocked for everyone. It returns the relays judged blocked by this
// report.
func (dd *distributor) report(account store.AccountID, registered time.Time, ids []string, now time.Time) ([]string, error) {
	dd.mu.Lock()
	defer dd.mu.Unlock()
	if !dd.trustedLocked(account, registered, now) {
		return nil, errOnProbation
	}
	me := hex.EncodeToString(account[:])
	a := dd.acctLocked(account)
	var judged []string
	for _, id := range ids {
		if _, held := a.Held[id]; !held {
			continue
		}
		if _, done := dd.l.Blocked[id]; done {
			continue
		}
		if a.Dropped == nil {
			a.Dropped = map[string]time.Time{}
		}
		a.Dropped[id] = now.UTC()
		r := dd.l.Reports[id]
		if r == nil {
			r = map[string]time.Time{}
			dd.l.Reports[id] = r
		}
		r[me] = now.UTC()
		if dd.independentLocked(r, now) >= dd.threshold {
			dd.l.Blocked[id] = now.UTC()
			delete(dd.l.Reports, id)
			judged = append(judged, id)
		}
	}
	for id, r := range dd.l.Reports {
		if dd.independentLocked(r, now) == 0 {
			delete(dd.l.Reports, id)
		}
	}
	return judged, dd.saveLocked()
}

// independentLocked counts the reporters of r within reportWindow that are
// independent: the accounts an account invited count as one reporter with
// it, while each account the operator invited (or that predates the
// ledger) is its own. Expired reports
// are dropped.
func (dd *distributor) independentLocked(r map[string]time.Time, now time.Time) int {
	groups := map[string]bool{}
	for acct, at := range r {
		if now.Sub(at) >= reportWindow {
			delete(r, acct)
			continue
		}
		g := acct
		if a := dd.l.Accounts[acct]; a != nil && a.Inviter != "" && a.Inviter != operatorInviter {
			g = a.Inviter // an inviter and the accounts it invited are one reporter
		}
		groups[g] = true
	}
	return len(groups)
}
