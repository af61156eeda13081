package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/wire"
)

// RelayRegistration lets volunteer relays that hold the operator's token
// publish themselves in the endpoint book (RegisterRelay), so that adding a
// relay needs no server restart.
type RelayRegistration struct {
	// Token is the registration secret the operator hands to relays it
	// trusts; wire.MinRelayToken..wire.MaxRelayToken bytes.
	Token []byte
	// File keeps the registered relays (mode 0600) so that a restart keeps
	// them; empty: memory only.
	File string
	// MaxRelays caps the registered relays (default 500), which bounds the
	// book and the file.
	MaxRelays int
	// Expire drops a relay that has not registered again for this long
	// (default 7 days; relays re-register every few hours).
	Expire time.Duration
}

// RelayTransports are the transports a registered relay may use: those a
// client dials in-process.
var RelayTransports = []string{"direct", "tlsws", "obfs4"}

// registeredRelay is one self-registered relay and when it last
// registered.
type registeredRelay struct {
	entry reach.Entry // ID, Kind, Label and Spec
	seen  time.Time
}

// relayFileEntry is a registered relay in RelayRegistration.File.
type relayFileEntry struct {
	ID    string    `json:"id"`
	Spec  string    `json:"spec"`
	Label string    `json:"label,omitempty"`
	Seen  time.Time `json:"seen"`
}

// loadRegistered checks the registration config and reads its file.
func (b *bookIssuer) loadRegistered() error {
	reg := b.cfg.Registration
	if reg == nil {
		return nil
	}
	if len(reg.Token) < wire.MinRelayToken || len(reg.Token) > wire.MaxRelayToken {
		return fmt.Errorf("server: config: the relay registration token must be %d..%d bytes", wire.MinRelayToken, wire.MaxRelayToken)
	}
	r := *reg
	if r.MaxRelays <= 0 {
		r.MaxRelays = 500
	}
	setDefault(&r.Expire, 7*24*time.Hour)
	b.cfg.Registration = &r
	b.registered = map[string]registeredRelay{}
	if r.File == "" {
		return nil
	}
	data, err := os.ReadFile(r.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("server: reading the registered relays: %w", err)
	}
	var list []relayFileEntry
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("server: reading the registered relays in %s: %w", r.File, err)
	}
	now := b.now()
	for _, fe := range list {
		e, err := relayEntry(fe.Spec, fe.Label)
		if err != nil || e.ID != fe.ID {
			return fmt.Errorf("server: %s: relay %q is damaged; remove it from the file", r.File, fe.ID)
		}
		if now.Sub(fe.Seen) < r.Expire && len(b.registered) < r.MaxRelays {
			b.registered[e.ID] = registeredRelay{entry: e, seen: fe.Seen}
		}
	}
	return nil
}

// listLocked returns the configured entries and then the registered relays
// that have not expired, by ID. b.mu is held.
func (b *bookIssuer) listLocked(now time.Time) []reach.Entry {
	if len(b.registered) == 0 {
		return b.cfg.Entries
	}
	list := slices.Clip(b.cfg.Entries)
	ids := make([]string, 0, len(b.registered))
	for id, r := range b.registered {
		if now.Sub(r.seen) < b.cfg.Registration.Expire {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		list = append(list, b.registered[id].entry)
	}
	return list
}

// tokenOK compares the token in constant time (of the digests, so the
// length does not show either).
func (b *bookIssuer) tokenOK(token []byte) bool {
	got, want := sha256.Sum256(token), sha256.Sum256(b.cfg.Registration.Token)
	return hmac.Equal(got[:], want[:])
}

// errRelaysFull is returned by register when MaxRelays are registered.
var errRelaysFull = errors.New("server: the relay registry is full")

// register adds or refreshes a relay and saves the registry.
func (b *bookIssuer) register(e reach.Entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.cfg.Entries, func(c reach.Entry) bool { return c.ID == e.ID }) {
		return nil // configured with --relay: published already
	}
	old, had := b.registered[e.ID]
	if !had && len(b.registered) >= b.cfg.Registration.MaxRelays {
		b.pruneLocked()
		if len(b.registered) >= b.cfg.Registration.MaxRelays {
			return errRelaysFull
		}
	}
	now := b.now()
	b.registered[e.ID] = registeredRelay{entry: e, seen: now}
	if err := b.saveLocked(); err != nil {
		if had {
			b.registered[e.ID] = old
		} else {
			delete(b.registered, e.ID)
		}
		return err
	}
	if !had || old.entry.Label != e.Label || now.Sub(old.seen) >= b.cfg.Registration.Expire {
		b.signed = nil // sign the new entry now
	}
	return nil
}

// pruneLocked drops the expired relays.
func (b *bookIssuer) pruneLocked() {
	now := b.now()
	for id, r := range b.registered {
		if now.Sub(r.seen) >= b.cfg.Registration.Expire {
			delete(b.registered, id)
		}
	}
}

// saveLocked writes the registry to its file (a new file renamed over the
// old one, mode 0600).
func (b *bookIssuer) saveLocked() error {
	path := b.cfg.Registration.File
	if path == "" {
		return nil
	}
	b.pruneLocked()
	list := make([]relayFileEntry, 0, len(b.registered))
	for _, r := range b.registered {
		list = append(list, relayFileEntry{ID: r.entry.ID, Spec: r.entry.Spec.String(), Label: r.entry.Label, Seen: r.seen.UTC()})
	}
	slices.SortFunc(list, func(x, y relayFileEntry) int { return strings.Compare(x.ID, y.ID) })
	data, err := json.MarshalIndent(list, "", "\t")
	if err != nil {
		return fmt.Errorf("server: saving the registered relays: %w", err)
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("server: saving the registered relays: %w", err)
	}
	return nil
}

// relayEntry checks a relay's spec and label and makes its book entry. The
// ID is "r-" and a hash of the spec, as for a relay given with --relay, so
// a relay keeps its ID across registrations.
func relayEntry(specText, label string) (reach.Entry, error) {
	spec, err := transport.ParseSpec(specText)
	if err != nil {
		return reach.Entry{}, err
	}
	if !slices.Contains(RelayTransports, spec.Name) {
		return reach.Entry{}, fmt.Errorf("transport %q is not one clients dial (use %s)", spec.Name, strings.Join(RelayTransports, ", "))
	}
	host, port, err := net.SplitHostPort(spec.Addr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return reach.Entry{}, fmt.Errorf("address %q is not host:port", spec.Addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return reach.Entry{}, fmt.Errorf("address %q is not one clients can dial", spec.Addr)
	}
	e := reach.Entry{ID: "r-" + strings.TrimPrefix(reach.UnsignedID(spec), "u-"), Kind: reach.KindRelay, Label: label, Spec: spec}
	if err := e.Validate(); err != nil {
		return reach.Entry{}, err
	}
	return e, nil
}

// registerRelay answers RegisterRelay. It needs no registered device: the
// token is the relay's credential.
func (ss *session) registerRelay(m *wire.RegisterRelay) wire.Message {
	b := ss.srv.book
	if b == nil || b.cfg.Registration == nil {
		return wire.Errorf(wire.CodeNotFound, "this server takes no relay registrations")
	}
	if !b.tokenOK(m.Token) {
		ss.srv.log.Warn("relay registration with a wrong token refused")
		return wire.Errorf(wire.CodeUnauthorized, "wrong relay registration token")
	}
	e, err := relayEntry(m.Spec, m.Label)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "relay refused: %v", err)
	}
	if err := b.register(e); err != nil {
		if errors.Is(err, errRelaysFull) {
			return wire.Errorf(wire.CodeUnavailable, "this server's relay registry is full")
		}
		ss.srv.log.Error("registering a relay failed", "err", err)
		return wire.Errorf(wire.CodeInternal, "the server could not store the relay")
	}
	ss.srv.log.Info("relay registered", "id", e.ID, "transport", e.Spec.Name)
	return &wire.OK{}
}
