//go:build !js

package client

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// chatState returns the marshaled MLS state of c's chat called name.
func chatState(t *testing.T, c *Client, name string) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.store.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.rollback()
	ch, _, err := c.findChatLocked(tx, name)
	if err != nil || ch == nil {
		t.Fatalf("%s has no chat %q: %v", c.Name(), name, err)
	}
	st, err := ch.g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sentLog records the Sends a client got acknowledged.
type sentLog struct {
	mu   sync.Mutex
	sent []*wire.Send
}

func (l *sentLog) hook(s *wire.Send) {
	l.mu.Lock()
	l.sent = append(l.sent, s)
	l.mu.Unlock()
}

func (l *sentLog) of(kind wire.Kind) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, s := range l.sent {
		if s.Kind == kind {
			out = append(out, s.Payload)
		}
	}
	return out
}

// After alice revokes her phone, her laptop removes the phone's leaf from
// the group: bob follows, alice and bob talk on, and the phone's MLS state
// can neither stay in the group through the removing commit nor read what
// is sent after it. The phone itself hears DeviceRevoked, stops, and says
// so after a restart too.
func TestRevokedDeviceIsRemovedFromChats(t *testing.T) {
	link := startServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	phone := newUser(t, link, "alice", alice.AccountSeed())
	befriend(t, alice, bob)
	addContact(t, phone, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	groupOfTwo(t, ctx, alice, bob)
	send(t, bob, "team", "hello all of alice")
	waitText(t, phone, "team", "bob", "hello all of alice")
	waitText(t, alice, "team", "bob", "hello all of alice")
	snapshot := chatState(t, phone, "team")
	epoch := chatEpoch(t, alice, "team")

	var aliceSent, bobSent sentLog
	alice.testHookSent, bob.testHookSent = aliceSent.hook, bobSent.hook
	d, err := alice.RevokeDevice(ctx, DeviceInfo{ID: DeviceIDOf(phone.DeviceKey())}.ShortID())
	if err != nil {
		t.Fatal(err)
	}
	if d.Key != phone.DeviceKey() {
		t.Fatal("revoked another device than the phone")
	}
	commits := aliceSent.of(wire.KindCommit)
	if len(commits) != 1 {
		t.Fatalf("alice sent %d commits for the revocation, want 1", len(commits))
	}
	waitChatEpoch(t, bob, "team", epoch+1)
	e2etest.Eventually(t, "the phone to learn it was revoked", 30*time.Second, func() bool { _, ok := phone.Revoked(); return ok })

	send(t, bob, "team", "after the revocation")
	waitText(t, alice, "team", "bob", "after the revocation")
	send(t, alice, "team", "laptop still here")
	waitText(t, bob, "team", "alice", "laptop still here")
	members := 0
	bob.mu.Lock()
	for _, ch := range bob.groups {
		if ch.rec.Name == "team" {
			members = len(ch.g.Members())
		}
	}
	bob.mu.Unlock()
	if members != 2 {
		t.Fatalf("bob's group has %d leaves after the revocation, want 2 (alice's laptop, bob)", members)
	}
	apps := bobSent.of(wire.KindApplication)
	if len(apps) == 0 {
		t.Fatal("bob's message was not recorded")
	}
	secret := apps[len(apps)-1]

	// The phone's state as it was before the revocation: the removing
	// commit takes it out of the group, and bob's later message cannot be
	// read, neither after that commit nor without it.
	g, err := mls.Restore(alice.cfg, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Process(commits[0])
	if err != nil {
		t.Fatalf("processing the removing commit: %v", err)
	}
	if !r.Removed || g.Active() {
		t.Fatalf("the removing commit left the phone in the group (removed %v, active %v)", r.Removed, g.Active())
	}
	if r, err := g.Process(secret); err == nil {
		t.Fatalf("the removed phone read a later message: %q", r.Application)
	}
	g2, err := mls.Restore(alice.cfg, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := g2.Process(secret); err == nil {
		t.Fatalf("the phone's old state read a later message: %q", r.Application)
	}
	ms, _ := phone.Messages(ctx, "team", false)
	for _, m := range ms {
		if m.Text == "after the revocation" {
			t.Fatal("the revoked phone stored a message sent after its revocation")
		}
	}

	// The phone stays revoked across restarts and says what to do.
	home := phone.opts.Home
	phone.Close()
	phone, err = Open(userOptions(t, home, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	phone.Start(ctx)
	werr := phone.WaitOnline(ctx)
	var re *RevokedError
	if !errors.As(werr, &re) || !strings.Contains(werr.Error(), "samizdat device link") {
		t.Fatalf("WaitOnline on the revoked phone: %v", werr)
	}
}

// A revoked device that comes online with messages in its outbox keeps
// them, records the revocation, and stops: no more connection attempts,
// no retries; what needs the server fails with *RevokedError.
func TestRevokedDeviceStopsRetrying(t *testing.T) {
	link, alice, bob := twoFriends(t)
	send(t, alice, "bob", "hi")
	waitText(t, bob, "alice", "alice", "hi")
	// A second device of alice, closed while she revokes it.
	home := filepath.Join(t.TempDir(), "alice-phone")
	var dials atomic.Int64
	opts := userOptions(t, home, "alice")
	opts.Dialer = func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return TCPDialer(ctx, addr)
	}
	phone, err := Init(InitOptions{Options: opts, Server: link, Name: "alice", AccountSeed: alice.AccountSeed()})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, phone)
	addContact(t, phone, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice.SyncDevices(ctx)
	send(t, bob, "alice", "to both")
	waitText(t, phone, "bob", "bob", "to both")
	phoneKey := phone.DeviceKey()
	phone.Close()

	if _, err := alice.RevokeDevice(ctx, DeviceInfo{ID: DeviceIDOf(phoneKey)}.ShortID()); err != nil {
		t.Fatal(err)
	}

	opts.Passphrase = []byte(testPass)
	phone, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if err := phone.Send(ctx, "bob", "queued while revoked"); err != nil {
		t.Fatal(err)
	}
	phone.Start(context.Background())
	werr := phone.WaitOnline(ctx)
	var re *RevokedError
	if !errors.As(werr, &re) {
		t.Fatalf("WaitOnline: %v, want *RevokedError", werr)
	}
	when, ok := phone.Revoked()
	if !ok || time.Since(when) > time.Minute {
		t.Fatalf("Revoked() = %v %v", when, ok)
	}
	n := dials.Load()
	time.Sleep(1500 * time.Millisecond) // the reconnect backoff starts at 100ms
	if got := dials.Load(); got != n {
		t.Fatalf("the revoked device dialed %d more times", got-n)
	}
	if p, err := phone.Pending(ctx); err != nil || p != 1 {
		t.Fatalf("outbox holds %d (%v), want the one message kept, not dropped", p, err)
	}
	if err := phone.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded on a revoked device")
	}
	if _, err := phone.Devices(ctx); !errors.As(err, &re) {
		t.Fatalf("Devices: %v, want *RevokedError", err)
	}
}
