package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/samizdat-project/samizdat/wire"
)

// Device linking (docs/spec/device-linking.md). The new device shows a
// one-time code (text, link or QR); a device of the account reads it,
// both screens show the same verification number, and the account goes
// to the new device sealed with HPKE (X-Wing: ML-KEM-768 + X25519) to a
// link key only the new device holds, through a short-lived mailbox on
// the server. The account seed is never shown to the user and the server
// only relays ciphertext.

// Linking parameters.
const (
	// LinkTTL is how long a sealed account stays valid after approval.
	LinkTTL = 10 * time.Minute
	// linkPoll is how often the new device asks for the sealed account.
	linkPoll = 500 * time.Millisecond
	// linkSecretSize and linkCommitSize are the two halves of a code.
	linkSecretSize = 16
	linkCommitSize = 16
	// LinkPrefix starts the link form of a linking code.
	LinkPrefix = "samizdat://link?code="
	// linkVersion is the version of the sealed account's plaintext.
	linkVersion = 1
)

// Labels that separate every hash and key of the linking flow.
const (
	linkMailboxLabel = "samizdat link mailbox v1"
	linkCommitLabel  = "samizdat link commit v1"
	linkVerifyLabel  = "samizdat link verify v1"
	linkInfoLabel    = "samizdat link v1"
)

// Errors of the linking flow.
var (
	ErrLinkNotFound     = errors.New("client: no pending link with this code: check the code, or start again on the new device (codes last 10 minutes and work once)")
	ErrLinkExpired      = errors.New("client: the link request expired or was already used; start again on the new device")
	ErrLinkVerification = errors.New("client: the verification number does not match the new device's; the link was not approved (someone may be trying to take over your account)")
	ErrLinkMismatch     = errors.New("client: the server's answer does not match the code; the link was not approved (the server may be tampering); do not retry with this code")
	ErrLinkSealed       = errors.New("client: the sealed account did not open or is not valid for this request; nothing was saved; start again")
)

// linkSuite is the HPKE suite of the linking flow: X-Wing, HKDF-SHA256,
// ChaCha20-Poly1305 (RFC 9180).
func linkSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768X25519(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
}

// linkCode is what a code carries: a secret that the server never sees
// (it names the mailbox through a hash and keys the HPKE info) and a
// commitment to the new device's keys.
type linkCode struct {
	secret [linkSecretSize]byte
	commit [linkCommitSize]byte
}

var linkB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// text is the code in groups of four base32 characters.
func (lc linkCode) text() string {
	raw := linkB32.EncodeToString(append(lc.secret[:], lc.commit[:]...))
	var b strings.Builder
	for i := 0; i < len(raw); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i:min(i+4, len(raw))])
	}
	return b.String()
}

// link is the code as a link (for a QR code).
func (lc linkCode) link() string {
	return LinkPrefix + linkB32.EncodeToString(append(lc.secret[:], lc.commit[:]...))
}

// parseLinkCode reads a code in its text or link form.
func parseLinkCode(s string) (linkCode, error) {
	var lc linkCode
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, LinkPrefix); ok {
		s = rest
	}
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	b, err := linkB32.DecodeString(s)
	if err != nil || len(b) != linkSecretSize+linkCommitSize {
		return lc, errors.New("client: this is not a linking code; copy the code (or scan the QR code) that 'samizdat device link' shows on the new device")
	}
	copy(lc.secret[:], b)
	copy(lc.commit[:], b[linkSecretSize:])
	return lc, nil
}

// mailbox is the server-side id of the link: a hash of the secret.
func (lc linkCode) mailbox() [32]byte {
	return sha256.Sum256(append([]byte(linkMailboxLabel), lc.secret[:]...))
}

// linkCommit commits to the new device's device key and link key.
func linkCommit(device DeviceKey, linkKey []byte) [linkCommitSize]byte {
	h := sha256.New()
	h.Write([]byte(linkCommitLabel))
	h.Write(device[:])
	h.Write(linkKey)
	var c [linkCommitSize]byte
	copy(c[:], h.Sum(nil))
	return c
}

// linkVerification is the six-digit number both screens show.
func linkVerification(lc linkCode, device DeviceKey, linkKey []byte) string {
	h := sha256.New()
	h.Write([]byte(linkVerifyLabel))
	h.Write(lc.secret[:])
	h.Write(device[:])
	h.Write(linkKey)
	v := binary.BigEndian.Uint64(h.Sum(nil)[:8]) % 1_000_000
	return fmt.Sprintf("%03d %03d", v/1000, v%1000)
}

// normalizeVerification keeps the digits of what a user typed.
func normalizeVerification(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// linkInfo is the HPKE info: it binds the sealed account to the code's
// secret, the mailbox, both device keys and the link key.
func linkInfo(lc linkCode, newDevice DeviceKey, linkKey []byte, approver DeviceKey) []byte {
	mb := lc.mailbox()
	lk := sha256.Sum256(linkKey)
	info := append([]byte(linkInfoLabel), 0)
	info = append(info, lc.secret[:]...)
	info = append(info, mb[:]...)
	info = append(info, newDevice[:]...)
	info = append(info, lk[:]...)
	return append(info, approver[:]...)
}

// linkedAccount is the plaintext of a sealed account.
type linkedAccount struct {
	Version      int            `json:"v"`
	AccountSeed  []byte         `json:"account_seed"`
	Name         string         `json:"name"`
	Contacts     []Contact      `json:"contacts,omitempty"`
	Approver     DeviceKey      `json:"approver"`
	ApproverCert wire.Signature `json:"approver_cert"`
	Mailbox      [32]byte       `json:"mailbox"`
	Expires      int64          `json:"expires"` // Unix seconds
}

// sealLinkedAccount seals acct for the new device: approver device key ||
// HPKE(enc || ciphertext).
func sealLinkedAccount(lc linkCode, newDevice DeviceKey, linkKey []byte, acct *linkedAccount) ([]byte, error) {
	kem, kdf, aead := linkSuite()
	pk, err := kem.NewPublicKey(linkKey)
	if err != nil {
		return nil, fmt.Errorf("client: the new device's link key is not valid: %w", err)
	}
	pt, err := json.Marshal(acct)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	ct, err := hpke.Seal(pk, kdf, aead, linkInfo(lc, newDevice, linkKey, acct.Approver), pt)
	if err != nil {
		return nil, fmt.Errorf("client: sealing the account: %w", err)
	}
	return append(append([]byte(nil), acct.Approver[:]...), ct...), nil
}

// openLinkedAccount opens and checks a sealed account; now judges expiry.
func openLinkedAccount(priv hpke.PrivateKey, lc linkCode, newDevice DeviceKey, linkKey, sealed []byte, now time.Time) (*linkedAccount, error) {
	if len(sealed) <= 32 {
		return nil, ErrLinkSealed
	}
	var approver DeviceKey
	copy(approver[:], sealed)
	_, kdf, aead := linkSuite()
	pt, err := hpke.Open(priv, kdf, aead, linkInfo(lc, newDevice, linkKey, approver), sealed[32:])
	if err != nil {
		return nil, ErrLinkSealed
	}
	defer clear(pt)
	acct := &linkedAccount{}
	if err := json.Unmarshal(pt, acct); err != nil || acct.Version != linkVersion || len(acct.AccountSeed) != ed25519.SeedSize {
		acct.wipe()
		return nil, ErrLinkSealed
	}
	mb := lc.mailbox()
	if subtle.ConstantTimeCompare(acct.Mailbox[:], mb[:]) != 1 || acct.Approver != approver || !utf8.ValidString(acct.Name) {
		acct.wipe()
		return nil, ErrLinkSealed
	}
	if now.Unix() > acct.Expires || time.Unix(acct.Expires, 0).Sub(now) > 2*LinkTTL {
		acct.wipe()
		return nil, ErrLinkExpired
	}
	// The approving device must be one the account certified.
	keys := selfKeys{AccountSeed: acct.AccountSeed}
	if !VerifyDevice(keys.accountKey(), approver, acct.ApproverCert) {
		acct.wipe()
		return nil, ErrLinkSealed
	}
	return acct, nil
}

func (a *linkedAccount) wipe() { clear(a.AccountSeed) }

// LinkRequest is the new device's side of a link in progress: it shows
// Code (or Link as a QR code) and Verification, then Wait.
type LinkRequest struct {
	// Code is the one-time linking code to type or paste on the
	// approving device; Link is the same as a link, for a QR code.
	Code, Link string
	// Verification is the number the approving device must also show.
	Verification string

	o          InitOptions
	code       linkCode
	deviceSeed []byte
	device     DeviceKey
	priv       hpke.PrivateKey
	linkKey    []byte
	sess       *session
}

// StartLink begins linking a new device in the empty home o.Home to an
// existing account: it makes the device key and a one-time link key,
// opens a linking mailbox on the server (o.Server) and returns the code
// to show. o.Name and o.AccountSeed are ignored (the account provides
// them).
func StartLink(ctx context.Context, o InitOptions) (*LinkRequest, error) {
	if len(o.Server.Addrs) == 0 {
		return nil, errors.New("client: linking needs the server link (samizdat://server?...) of your account's server")
	}
	if hasStore(o.Home) {
		return nil, ErrAccountExists
	}
	if len(o.Passphrase) == 0 {
		return nil, errors.New("client: empty passphrase; set SAMIZDAT_PASSPHRASE or pass --passphrase-file FILE")
	}
	kem, _, _ := linkSuite()
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("client: making the link key: %w", err)
	}
	r := &LinkRequest{o: o, priv: priv, linkKey: priv.PublicKey().Bytes(), deviceSeed: make([]byte, ed25519.SeedSize)}
	r.o.Passphrase = append([]byte(nil), o.Passphrase...)
	r.o.AccountSeed, r.o.Name = nil, ""
	rand.Read(r.deviceSeed)
	rand.Read(r.code.secret[:])
	copy(r.device[:], ed25519.NewKeyFromSeed(r.deviceSeed).Public().(ed25519.PublicKey))
	r.code.commit = linkCommit(r.device, r.linkKey)
	r.Code, r.Link = r.code.text(), r.code.link()
	r.Verification = linkVerification(r.code, r.device, r.linkKey)
	if err := r.open(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// open connects with the new device key and opens the mailbox.
func (r *LinkRequest) open(ctx context.Context) error {
	dial := r.o.Dialer
	if dial == nil {
		dial = TCPDialer
	}
	dev := ed25519.NewKeyFromSeed(r.deviceSeed)
	defer clear(dev)
	s, err := dialSession(ctx, dial, r.o.Server, dev, nil)
	if err != nil {
		return err
	}
	if _, err := s.call(ctx, &wire.LinkOpen{Mailbox: r.code.mailbox(), LinkKey: r.linkKey}); err != nil {
		s.close(err)
		if wireCode(err) == wire.CodeBadRequest {
			return errors.New("client: this server does not support linking devices yet; update it")
		}
		return userError("opening the link request", err)
	}
	r.sess = s
	return nil
}

// DeviceKey is the key of the device being linked.
func (r *LinkRequest) DeviceKey() DeviceKey { return r.device }

// Wait waits until a device of the account approves the link, then
// creates the account's store in the home directory with the received
// account, and returns the opened (not started) client. Start it to
// register the device; the approving device then adds it to the chats.
func (r *LinkRequest) Wait(ctx context.Context) (*Client, error) {
	mb := r.code.mailbox()
	for {
		if r.sess == nil || !r.sess.alive() {
			dev := ed25519.NewKeyFromSeed(r.deviceSeed)
			dial := r.o.Dialer
			if dial == nil {
				dial = TCPDialer
			}
			s, err := dialSession(ctx, dial, r.o.Server, dev, nil)
			clear(dev)
			if err == nil {
				r.sess = s
			} else if ctx.Err() != nil {
				return nil, ErrOffline
			}
		}
		if r.sess != nil && r.sess.alive() {
			resp, err := r.sess.call(ctx, &wire.LinkFetch{Mailbox: mb})
			if wireCode(err) == wire.CodeNotFound {
				return nil, ErrLinkExpired
			}
			if err == nil {
				if sealed := resp.(*wire.LinkBlob).Sealed; len(sealed) > 0 {
					return r.finish(ctx, sealed)
				}
			} else if _, ok := err.(*wire.Error); ok && !wireCode(err).Retryable() {
				return nil, userError("waiting for the approval", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("client: no device approved the link in time: %w", ctx.Err())
		case <-time.After(linkPoll):
		}
	}
}

// finish opens the sealed account and creates the store.
func (r *LinkRequest) finish(ctx context.Context, sealed []byte) (*Client, error) {
	acct, err := openLinkedAccount(r.priv, r.code, r.device, r.linkKey, sealed, time.Now())
	r.priv = nil // one-time: a replayed answer can no longer open
	if err != nil {
		return nil, err
	}
	defer acct.wipe()
	c, err := Init(InitOptions{Options: r.o.Options, Server: r.o.Server, Name: acct.Name, AccountSeed: acct.AccountSeed, deviceSeed: r.deviceSeed})
	if err != nil {
		return nil, err
	}
	if err := c.importContacts(ctx, acct.Contacts); err != nil {
		c.logf("client: importing contacts from the linking device: %v", err)
	}
	r.Close()
	return c, nil
}

// importContacts stores the contacts the approving device sent, skipping
// invalid ones and names already taken.
func (c *Client) importContacts(ctx context.Context, cts []Contact) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, ct := range cts {
		if validName(ct.Name) != nil || names[ct.Name] || ct.Account == c.AccountKey() {
			continue
		}
		names[ct.Name] = true
		t.put("contact", ct.Account[:], &ct)
	}
	return t.commit()
}

// Close ends the request and wipes its keys (after Wait, or to give up).
func (r *LinkRequest) Close() {
	if r.sess != nil {
		r.sess.close(errors.New("client: link request closed"))
		r.sess = nil
	}
	clear(r.deviceSeed)
	clear(r.o.Passphrase)
	r.priv = nil
}

// LinkApproval is a pending approval on an existing device: show
// Verification and approve only if the new device shows the same.
type LinkApproval struct {
	// Device is the new device's key.
	Device DeviceKey
	// Verification must match what the new device shows.
	Verification string
	// Expires is when the new device's request expires (server time).
	Expires time.Time

	code    linkCode
	linkKey []byte
}

// LookupLink reads the new device's request named by a code (text or link
// form). The client must be online.
func (c *Client) LookupLink(ctx context.Context, code string) (*LinkApproval, error) {
	lc, err := parseLinkCode(code)
	if err != nil {
		return nil, err
	}
	s, err := c.online(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(ctx, &wire.LinkLookup{Mailbox: lc.mailbox()})
	if wireCode(err) == wire.CodeNotFound {
		return nil, ErrLinkNotFound
	}
	if err != nil {
		return nil, userError("reading the link request", err)
	}
	offer := resp.(*wire.LinkOffer)
	want := linkCommit(offer.DeviceKey, offer.LinkKey)
	if subtle.ConstantTimeCompare(want[:], lc.commit[:]) != 1 {
		return nil, ErrLinkMismatch
	}
	kem, _, _ := linkSuite()
	if _, err := kem.NewPublicKey(offer.LinkKey); err != nil {
		return nil, ErrLinkMismatch
	}
	return &LinkApproval{Device: offer.DeviceKey, Verification: linkVerification(lc, offer.DeviceKey, offer.LinkKey),
		Expires: time.Unix(int64(offer.ExpiresAt), 0), code: lc, linkKey: offer.LinkKey}, nil
}

// ApproveLink sends the account, sealed to the new device, if confirm is
// the verification number the new device shows (the user types it, or
// confirms that both screens match). It returns once the server holds the
// sealed account; AddLinkedDevice then adds the device to the chats.
func (c *Client) ApproveLink(ctx context.Context, a *LinkApproval, confirm string) error {
	want, got := normalizeVerification(a.Verification), normalizeVerification(confirm)
	if len(got) != len(want) || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return ErrLinkVerification
	}
	cts, err := c.Contacts(ctx)
	if err != nil {
		return err
	}
	acctKey := c.keys.account()
	acct := &linkedAccount{Version: linkVersion, AccountSeed: append([]byte(nil), c.keys.AccountSeed...), Name: c.Name(), Contacts: cts,
		Approver: c.DeviceKey(), ApproverCert: SignDevice(acctKey, c.DeviceKey()), Mailbox: a.code.mailbox(), Expires: time.Now().Add(LinkTTL).Unix()}
	clear(acctKey)
	sealed, err := sealLinkedAccount(a.code, a.Device, a.linkKey, acct)
	acct.wipe()
	if err != nil {
		return err
	}
	s, err := c.online(ctx)
	if err != nil {
		return err
	}
	if _, err := s.call(ctx, &wire.LinkApprove{Mailbox: a.code.mailbox(), Sealed: sealed}); err != nil {
		switch wireCode(err) {
		case wire.CodeNotFound:
			return ErrLinkExpired
		case wire.CodeConflict:
			return errors.New("client: this link request was already approved; if not by you, start again on the new device and check your devices with 'samizdat devices'")
		}
		return userError("approving the link", err)
	}
	return nil
}

// AddLinkedDevice waits until the new device has registered and
// published its keys, then adds it to every chat of this account (the
// SyncDevices path). It returns once the device is in every active chat,
// or with an error when ctx ends first (every device of the account adds
// it again on its next connection).
func (c *Client) AddLinkedDevice(ctx context.Context, dev DeviceKey) error {
	for {
		if s, err := c.online(ctx); err == nil {
			devs, err := c.verifiedDevices(ctx, s, c.AccountKey())
			if err == nil && hasDevice(devs, dev) {
				c.SyncDevices(ctx)
				if c.chatsWithoutDevice(ctx, dev) == 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("client: the new device has not come online yet; it joins your chats when it does and one of your devices is online")
		case <-time.After(linkPoll):
		}
	}
}

func hasDevice(list []wire.DeviceEntry, dev DeviceKey) bool {
	for _, d := range list {
		if d.DeviceKey == dev {
			return true
		}
	}
	return false
}

// chatsWithoutDevice counts the active chats dev is not a member of.
func (c *Client) chatsWithoutDevice(ctx context.Context, dev DeviceKey) int {
	n := 0
	err := c.readLocked(ctx, func(t *tx) error {
		for _, ch := range c.allChatsLocked(t) {
			if !ch.rec.Active {
				continue
			}
			in := false
			for _, m := range ch.g.Members() {
				if _, d, err := parseCredential(m.Identity); err == nil && d == dev {
					in = true
					break
				}
			}
			if !in {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return n
}

// CheckLinkCode reports whether s reads as a linking code (text or link
// form), without going online.
func CheckLinkCode(s string) error {
	_, err := parseLinkCode(s)
	return err
}
