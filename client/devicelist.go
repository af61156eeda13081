package client

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Signed device lists (docs/spec/authentication.md §3). Each account
// publishes, through the server, the list of its devices signed by the
// account key with a version that grows by one per change. A leaf whose
// device is not on its account's current list is refused (auth.go); a
// list older than one this client saw is a rollback and refused; a change
// of a contact's list is shown in every chat with them.

// deviceListContext starts the message an account key signs over its list.
const deviceListContext = "samizdat device list v1\x00"

// listFreshness is how long a fetched list is trusted for a device it
// lists before it is fetched again: long enough to serve one operation
// (a Welcome's tree, a change and its KeyPackages), short enough that a
// device its account just removed is not accepted from a stale copy. The
// validator runs only for leaves entering a group, never per message, so
// this costs one round trip per account per change. A device the list
// does not name is always looked up again first.
const listFreshness = 5 * time.Second

// ListedDevice is one device on an account's signed list.
type ListedDevice struct {
	Key     DeviceKey
	Created uint64 // Unix seconds, as in its device certificate
}

// DeviceList is a verified device list.
type DeviceList struct {
	Account AccountKey
	Version uint64
	Devices []ListedDevice
}

// Has reports whether d is on the list.
func (l *DeviceList) Has(d DeviceKey) bool {
	return slices.ContainsFunc(l.Devices, func(x ListedDevice) bool { return x.Key == d })
}

// SignDeviceList encodes and signs an account's device list (at most
// wire.MaxDevices devices).
func SignDeviceList(account ed25519.PrivateKey, version uint64, devices []ListedDevice) []byte {
	b := make([]byte, 0, 32+8+1+len(devices)*40+64)
	b = append(b, account.Public().(ed25519.PublicKey)...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = append(b, byte(len(devices)))
	for _, d := range devices {
		b = append(b, d.Key[:]...)
		b = binary.BigEndian.AppendUint64(b, d.Created)
	}
	return append(b, ed25519.Sign(account, append([]byte(deviceListContext), b...))...)
}

// ParseDeviceList verifies a signed device list of account.
func ParseDeviceList(account AccountKey, b []byte) (*DeviceList, error) {
	bad := func(why string) error { return fmt.Errorf("client: %w: %s", ErrDeviceListInvalid, why) }
	if len(b) < 32+8+1+64 {
		return nil, bad("too short")
	}
	body, sig := b[:len(b)-64], b[len(b)-64:]
	if !ed25519.Verify(account[:], append([]byte(deviceListContext), body...), sig) {
		return nil, bad("signature")
	}
	if [32]byte(body[:32]) != account {
		return nil, bad("names another account")
	}
	l := &DeviceList{Account: account, Version: binary.BigEndian.Uint64(body[32:40])}
	n := int(body[40])
	rest := body[41:]
	if n > wire.MaxDevices || len(rest) != n*40 {
		return nil, bad("length")
	}
	for i := range n {
		var d ListedDevice
		copy(d.Key[:], rest[i*40:])
		d.Created = binary.BigEndian.Uint64(rest[i*40+32:])
		if l.Has(d.Key) {
			return nil, bad("duplicate device")
		}
		l.Devices = append(l.Devices, d)
	}
	return l, nil
}

// knownList is the newest verified list of an account this client saw.
type knownList struct {
	List    DeviceList `json:"list"`
	Blob    []byte     `json:"blob"`
	fetched time.Time
}

// listNotice records that an account's list changed, to be shown.
type listNotice struct {
	Account  AccountKey
	Old, New DeviceList
	Rollback uint64 // the older version the server tried, or 0
}

// deviceLists is the client's cache of verified device lists.
type deviceLists struct {
	mu      sync.Mutex // guards the fields below
	known   map[AccountKey]*knownList
	dirty   map[AccountKey]bool // not stored yet
	notices []listNotice
}

func (dl *deviceLists) get(a AccountKey) *knownList {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return dl.known[a]
}

// loadDeviceLists reads the cached lists from the store (at Open).
func (c *Client) loadDeviceLists() error {
	c.lists.known = map[AccountKey]*knownList{}
	c.lists.dirty = map[AccountKey]bool{}
	t, err := c.store.begin(context.Background())
	if err != nil {
		return err
	}
	defer t.rollback()
	t.each("devlist", func(k, v []byte) {
		var a AccountKey
		if len(k) != len(a) {
			return
		}
		copy(a[:], k)
		var kl knownList
		if json.Unmarshal(v, &kl) == nil {
			c.lists.known[a] = &kl
		}
	})
	return t.err
}

// fetchDeviceList gets, verifies and caches account's current list. A list
// older than the cached one is refused as a rollback (and noted); a newer
// one with other devices is noted as a change. NotFound gives an empty
// list of version 0.
func (c *Client) fetchDeviceList(ctx context.Context, s *session, a AccountKey) (*DeviceList, error) {
	resp, err := s.call(ctx, &wire.FetchDeviceList{AccountKey: a})
	if wireCode(err) == wire.CodeNotFound {
		if kl := c.lists.get(a); kl != nil {
			c.noteRollback(a, kl, 0)
			return nil, ErrDeviceListRollback
		}
		return &DeviceList{Account: a}, nil
	}
	var we *wire.Error
	if errors.As(err, &we) && !we.Code.Retryable() {
		return nil, fmt.Errorf("%w: the server refused to give it: %w", ErrDeviceListInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDeviceListUnavailable, err)
	}
	r := resp.(*wire.DeviceList)
	l, err := ParseDeviceList(a, r.List)
	if err != nil {
		return nil, err
	}
	c.lists.mu.Lock()
	defer c.lists.mu.Unlock()
	kl := c.lists.known[a]
	switch {
	case kl != nil && l.Version < kl.List.Version:
		c.lists.notices = append(c.lists.notices, listNotice{Account: a, Old: kl.List, Rollback: l.Version})
		return nil, ErrDeviceListRollback
	case kl != nil && l.Version == kl.List.Version:
		if !equalBytes(r.List, kl.Blob) {
			// Two lists of one version: the account signed both (a race
			// of two devices) or it is an equivocation; keep the first.
			c.logf("client: an account signed two device lists of version %d; keeping the first", l.Version)
		}
		kl.fetched = time.Now()
		return &kl.List, nil
	}
	if kl != nil && !sameDevices(&kl.List, l) {
		c.lists.notices = append(c.lists.notices, listNotice{Account: a, Old: kl.List, New: *l})
	}
	c.lists.known[a] = &knownList{List: *l, Blob: append([]byte(nil), r.List...), fetched: time.Now()}
	c.lists.dirty[a] = true
	return l, nil
}

func (c *Client) noteRollback(a AccountKey, kl *knownList, v uint64) {
	c.lists.mu.Lock()
	c.lists.notices = append(c.lists.notices, listNotice{Account: a, Old: kl.List, Rollback: max(v, 1)})
	c.lists.mu.Unlock()
}

func sameDevices(a, b *DeviceList) bool {
	if len(a.Devices) != len(b.Devices) {
		return false
	}
	for _, d := range a.Devices {
		if !b.Has(d.Key) {
			return false
		}
	}
	return true
}

// checkListed is the device list half of leaf validation: d must be on
// a's current list. A cached list that names d is trusted for
// listFreshness; otherwise the list is fetched first.
func (c *Client) checkListed(a AccountKey, d DeviceKey) error {
	kl := c.lists.get(a)
	if kl != nil && kl.List.Has(d) && time.Since(kl.fetched) < listFreshness {
		return nil
	}
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	if s == nil && kl != nil && kl.List.Has(d) {
		return nil // offline: the newest list we know names it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s == nil || !s.alive() {
		// Deliveries start before the session is published (setupSession
		// subscribes last): wait for it a little.
		var err error
		if s, err = c.onlineWithin(ctx); err != nil {
			return &AuthError{Account: a, Device: d, Err: errDeviceListUnavailable}
		}
	}
	l, err := c.fetchDeviceList(ctx, s, a)
	if errors.Is(err, errDeviceListUnavailable) && kl != nil && kl.List.Has(d) {
		return nil
	}
	if err != nil {
		return &AuthError{Account: a, Device: d, Err: err}
	}
	if !l.Has(d) {
		return &AuthError{Account: a, Device: d, Err: ErrDeviceNotListed}
	}
	return nil
}

// validateCredential is the Authentication Service handed to mls
// (Config.ValidateCredential): the device certificate, the signature key,
// and the account's signed device list.
func (c *Client) validateCredential(identity, signatureKey []byte) error {
	a, d, err := verifyCredential(identity, signatureKey)
	if err != nil {
		return err
	}
	return c.checkListed(a, d)
}

// publishOwnDeviceList makes sure this device is on its account's list:
// it fetches the list and, if this device is missing, publishes the next
// version with it added (retrying when another device published first).
func (c *Client) publishOwnDeviceList(ctx context.Context, s *session) error {
	me := c.DeviceKey()
	return c.changeOwnList(ctx, s, func(l *DeviceList) ([]ListedDevice, bool) {
		if l.Has(me) {
			return nil, false
		}
		return append(slices.Clone(l.Devices), ListedDevice{Key: me, Created: uint64(max(c.keys.DeviceCreated, 0))}), true
	})
}

// changeOwnList fetches this account's device list, asks change for the
// devices of the next version (false: nothing to change) and publishes
// it, starting again when another device published a version first.
func (c *Client) changeOwnList(ctx context.Context, s *session, change func(l *DeviceList) ([]ListedDevice, bool)) error {
	for range 4 {
		l, err := c.fetchDeviceList(ctx, s, c.AccountKey())
		if err != nil {
			return fmt.Errorf("client: reading this account's device list: %w", err)
		}
		devs, ok := change(l)
		if !ok {
			return nil
		}
		if err := c.publishDeviceList(ctx, s, l.Version+1, devs); err != nil {
			if wireCode(err) == wire.CodeConflict {
				continue
			}
			return err
		}
		return nil
	}
	return errors.New("client: this account's device list kept changing; try again")
}

// publishDeviceList signs and publishes a list, and caches it.
func (c *Client) publishDeviceList(ctx context.Context, s *session, version uint64, devs []ListedDevice) error {
	acct := c.keys.account()
	blob := SignDeviceList(acct, version, devs)
	clear(acct)
	if _, err := s.call(ctx, &wire.PublishDeviceList{AccountKey: c.AccountKey(), Version: version, List: blob}); err != nil {
		if wireCode(err) == wire.CodeConflict {
			return err
		}
		return userError("publishing this account's device list", err)
	}
	l, err := ParseDeviceList(c.AccountKey(), blob)
	if err != nil {
		return err
	}
	c.lists.mu.Lock()
	c.lists.known[c.AccountKey()] = &knownList{List: *l, Blob: blob, fetched: time.Now()}
	c.lists.dirty[c.AccountKey()] = true
	c.lists.mu.Unlock()
	return nil
}

// removeFromOwnList publishes this account's list without d (revocation).
func (c *Client) removeFromOwnList(ctx context.Context, s *session, d DeviceKey) error {
	return c.changeOwnList(ctx, s, func(l *DeviceList) ([]ListedDevice, bool) {
		if !l.Has(d) {
			return nil, false
		}
		return slices.DeleteFunc(slices.Clone(l.Devices), func(x ListedDevice) bool { return x.Key == d }), true
	})
}

// onlineWithin waits for a session while the client runs (Start), or
// fails at once for a client that was never started (offline processing).
func (c *Client) onlineWithin(ctx context.Context) (*session, error) {
	c.sessMu.Lock()
	started := c.cancel != nil
	c.sessMu.Unlock()
	if !started {
		return nil, ErrOffline
	}
	return c.online(ctx)
}
