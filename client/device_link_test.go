//go:build !js

package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

// linkServer is a real server over TCP on 127.0.0.1 whose clock a test can
// move forward, with the directory of its store.
type linkServer struct {
	link   ServerLink
	dir    string
	offset atomic.Int64 // nanoseconds added to the server's clock
}

func startLinkServer(t *testing.T) *linkServer {
	t.Helper()
	ls := &linkServer{dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(ls.dir, "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, addr := servertest.Serve(t, server.Config{Store: st,
		Now: func() time.Time { return time.Now().Add(time.Duration(ls.offset.Load())) }}, func() { st.Close() })
	ls.link = ServerLink{Key: key, Addrs: []string{addr}}
	return ls
}

// startLinking starts a link request for a new device in a fresh home.
func startLinking(t *testing.T, link ServerLink, name string) *LinkRequest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := StartLink(ctx, InitOptions{Options: userOptions(t, filepath.Join(t.TempDir(), name), name), Server: link})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// approve runs the approving side: look the code up, check the number,
// approve.
func approve(t *testing.T, c *Client, r *LinkRequest) *LinkApproval {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := c.LookupLink(ctx, r.Link)
	if err != nil {
		t.Fatal(err)
	}
	if a.Verification != r.Verification || a.Device != r.DeviceKey() {
		t.Fatalf("approving device sees %q for %x, new device shows %q for %x", a.Verification, a.Device, r.Verification, r.DeviceKey())
	}
	if err := c.ApproveLink(ctx, a, r.Verification); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLinkDevice(t *testing.T) {
	ls := startLinkServer(t)
	alice, bob := newUser(t, ls.link, "alice", nil), newUser(t, ls.link, "bob", nil)
	befriend(t, alice, bob)
	send(t, alice, "bob", "before the phone")
	waitText(t, bob, "alice", "alice", "before the phone")

	r := startLinking(t, ls.link, "alice-phone")
	if !strings.HasPrefix(r.Link, LinkPrefix) || len(normalizeVerification(r.Verification)) != 6 {
		t.Fatalf("link %q, verification %q", r.Link, r.Verification)
	}
	waited := make(chan *Client, 1)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := r.Wait(ctx)
		if err != nil {
			errc <- err
			return
		}
		waited <- c
	}()
	a := approve(t, alice, r)
	var phone *Client
	select {
	case phone = <-waited:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(25 * time.Second):
		t.Fatal("the new device never got the account")
	}
	startUser(t, phone)
	if phone.AccountKey() != alice.AccountKey() || phone.Name() != "alice" || phone.DeviceKey() != a.Device || phone.DeviceKey() == alice.DeviceKey() {
		t.Fatalf("linked device: account %x name %q device %x", phone.AccountKey(), phone.Name(), phone.DeviceKey())
	}
	if cts, err := phone.Contacts(context.Background()); err != nil || len(cts) != 1 || cts[0].Name != "bob" || cts[0].Account != bob.AccountKey() {
		t.Fatalf("linked device contacts: %+v, %v", cts, err)
	}

	// The approving device adds the new one to the existing chat.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := alice.AddLinkedDevice(ctx, a.Device); err != nil {
		t.Fatal(err)
	}
	send(t, bob, "alice", "after the phone")
	waitText(t, phone, "bob", "bob", "after the phone")
	waitText(t, alice, "bob", "bob", "after the phone")

	// Both devices are listed; a second approval of the used code fails.
	devs, err := alice.Devices(ctx)
	if err != nil || len(devs) != 2 {
		t.Fatalf("devices: %+v, %v", devs, err)
	}
	if err := alice.ApproveLink(ctx, a, r.Verification); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("a second approval: %v, want ErrLinkExpired", err)
	}

	// The server's files never hold the account seed in clear (nor in hex
	// or base64, as the sealed JSON would carry it).
	seed := alice.AccountSeed()
	needles := [][]byte{seed, []byte(hex.EncodeToString(seed)), []byte(base64.StdEncoding.EncodeToString(seed)), []byte(base64.RawURLEncoding.EncodeToString(seed))}
	noneInClear(t, ls.dir, needles)

	// Revoking the phone from the laptop: the phone is no longer listed.
	phoneID := DeviceIDOf(phone.DeviceKey())
	rev, err := alice.RevokeDevice(ctx, hex.EncodeToString(phoneID[:4]))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Key != phone.DeviceKey() {
		t.Fatalf("revoked %x, want the phone", rev.Key)
	}
	if devs, err := alice.Devices(ctx); err != nil || len(devs) != 1 || !devs[0].This {
		t.Fatalf("devices after revoke: %+v, %v", devs, err)
	}
	if _, err := alice.RevokeDevice(ctx, devs[0].ShortID()); err == nil {
		t.Fatal("a device revoked itself")
	}
}

func TestLinkWrongCodeOrVerification(t *testing.T) {
	ls := startLinkServer(t)
	alice := newUser(t, ls.link, "alice", nil)
	r := startLinking(t, ls.link, "phone")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := alice.LookupLink(ctx, "not a code"); err == nil {
		t.Fatal("a malformed code was accepted")
	}
	// Another secret: no such mailbox.
	bad := r.code
	bad.secret[0] ^= 1
	if _, err := alice.LookupLink(ctx, bad.link()); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("wrong secret: %v, want ErrLinkNotFound", err)
	}
	// The right mailbox but another commitment (as if the server swapped
	// the new device's keys).
	bad = r.code
	bad.commit[3] ^= 0x40
	if _, err := alice.LookupLink(ctx, bad.text()); !errors.Is(err, ErrLinkMismatch) {
		t.Fatalf("wrong commitment: %v, want ErrLinkMismatch", err)
	}
	// The right code, a wrong verification number: nothing is sent.
	a, err := alice.LookupLink(ctx, strings.ToLower(r.Code))
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000 000"
	if normalizeVerification(r.Verification) == "000000" {
		wrong = "111 111"
	}
	for _, v := range []string{wrong, "", normalizeVerification(r.Verification)[:5]} {
		if err := alice.ApproveLink(ctx, a, v); !errors.Is(err, ErrLinkVerification) {
			t.Fatalf("verification %q: %v, want ErrLinkVerification", v, err)
		}
	}
	// Nothing was deposited: the new device still waits.
	wctx, wcancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer wcancel()
	if c, err := r.Wait(wctx); err == nil || errors.Is(err, ErrLinkExpired) {
		t.Fatalf("the new device got an answer (%v, %v) although nothing was approved", c, err)
	}
	if hasStore(r.o.Home) {
		t.Fatal("the new device created a store without an approval")
	}
}

func TestLinkReplayAndExpiry(t *testing.T) {
	ls := startLinkServer(t)
	alice := newUser(t, ls.link, "alice", nil)
	mallory := newUser(t, ls.link, "mallory", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A sealed account made for one request does not open in another
	// (another link key, secret and device): replaying it fails.
	r1 := startLinking(t, ls.link, "one")
	r2 := startLinking(t, ls.link, "two")
	acct := &linkedAccount{Version: linkVersion, AccountSeed: alice.AccountSeed(), Name: "alice", Approver: alice.DeviceKey(),
		ApproverCert: SignDevice(alice.keys.account(), alice.DeviceKey()), Mailbox: r1.code.mailbox(), Expires: time.Now().Add(LinkTTL).Unix()}
	sealed, err := sealLinkedAccount(r1.code, r1.device, r1.linkKey, acct)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, acct.AccountSeed) {
		t.Fatal("the sealed account holds the seed in clear")
	}
	if _, err := openLinkedAccount(r1.priv, r1.code, r1.device, r1.linkKey, sealed, time.Now()); err != nil {
		t.Fatalf("the right request cannot open its sealed account: %v", err)
	}
	if _, err := openLinkedAccount(r2.priv, r2.code, r2.device, r2.linkKey, sealed, time.Now()); !errors.Is(err, ErrLinkSealed) {
		t.Fatalf("replayed into another request: %v, want ErrLinkSealed", err)
	}
	// Tampered with (a byte of the ciphertext, or the approver named in clear).
	for _, i := range []int{0, 40, len(sealed) - 1} {
		bad := append([]byte(nil), sealed...)
		bad[i] ^= 1
		if _, err := openLinkedAccount(r1.priv, r1.code, r1.device, r1.linkKey, bad, time.Now()); !errors.Is(err, ErrLinkSealed) {
			t.Fatalf("tampered byte %d: %v, want ErrLinkSealed", i, err)
		}
	}
	// Expired: the approval's time has passed.
	if _, err := openLinkedAccount(r1.priv, r1.code, r1.device, r1.linkKey, sealed, time.Now().Add(LinkTTL+time.Minute)); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("expired sealed account: %v, want ErrLinkExpired", err)
	}
	// An approver the account did not certify is refused.
	acct.ApproverCert = SignDevice(mallory.keys.account(), alice.DeviceKey())
	forged, _ := sealLinkedAccount(r1.code, r1.device, r1.linkKey, acct)
	if _, err := openLinkedAccount(r1.priv, r1.code, r1.device, r1.linkKey, forged, time.Now()); !errors.Is(err, ErrLinkSealed) {
		t.Fatalf("uncertified approver: %v, want ErrLinkSealed", err)
	}

	// Through the server: r1 is approved and taken once; the sealed
	// account is gone from the server afterwards, and the used request
	// can no longer open anything.
	approve(t, alice, r1)
	c1, err := r1.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	if r1.priv != nil {
		t.Fatal("the link key survived its use")
	}
	if _, err := alice.LookupLink(ctx, r1.Code); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("lookup of a used code: %v, want ErrLinkNotFound", err)
	}
	// A second device that learned r2's code approves first: the real
	// approval is refused (Conflict), not silently replaced.
	a2, err := alice.LookupLink(ctx, r2.Code)
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.ApproveLink(ctx, a2, r2.Verification); err != nil {
		t.Fatal(err)
	}
	if err := alice.ApproveLink(ctx, a2, r2.Verification); err == nil || errors.Is(err, ErrLinkVerification) {
		t.Fatalf("second approval of one request: %v, want a conflict", err)
	}
	// Only the device that opened a mailbox may take from it.
	s, err := alice.online(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.call(ctx, &wire.LinkFetch{Mailbox: r2.code.mailbox()}); wireCode(err) != wire.CodeNotFound {
		t.Fatalf("another device fetched the sealed account: %v", err)
	}
	// The new device shows whose account it got (here the first approver's).
	c2, err := r2.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Name() != "mallory" || c2.AccountKey() != mallory.AccountKey() {
		t.Fatalf("r2 got account %q", c2.Name())
	}
	c2.Close()

	// Server-side expiry: a request older than the server's TTL is gone
	// for both sides.
	r3 := startLinking(t, ls.link, "three")
	a3, err := alice.LookupLink(ctx, r3.Code)
	if err != nil {
		t.Fatal(err)
	}
	ls.offset.Store(int64(11 * time.Minute))
	if _, err := alice.LookupLink(ctx, r3.Code); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("lookup after the TTL: %v, want ErrLinkNotFound", err)
	}
	if err := alice.ApproveLink(ctx, a3, r3.Verification); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("approval after the TTL: %v, want ErrLinkExpired", err)
	}
	if _, err := r3.Wait(ctx); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("wait after the TTL: %v, want ErrLinkExpired", err)
	}
}
