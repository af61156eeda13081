package adversary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// TestAdversaryDeviceListRollback: Alice revokes her lost phone; Bob has
// seen her new device list. The server, holding the phone's keys, serves
// Alice's old list (which still names the phone) and invites Bob to a
// chat with the phone as "alice". Bob must refuse both the old list and
// the phone's leaf, and show a warning.
func TestAdversaryDeviceListRollback(t *testing.T) {
	srv, alice, bob := aliceAndBob(t)
	ctx := context.Background()
	phone := NewMember(t, srv.Link, alice.AccountSeed())
	if _, err := bob.SafetyNumber(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	phoneID := sha256.Sum256(phone.DeviceKey[:])
	if _, err := alice.RevokeDevice(ctx, hex.EncodeToString(phoneID[:4])); err != nil {
		t.Fatal(err)
	}
	// Bob compares safety numbers again: he sees the new list.
	if _, err := bob.SafetyNumber(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "that alice's devices changed", func(m client.Message) bool {
		return m.Kind == client.MessageEvent && strings.Contains(m.Text, "alice's devices changed") && strings.Contains(m.Text, client.Fingerprint(phone.DeviceKey))
	})

	akey := alice.AccountKey()
	acct := store.AccountID(sha256.Sum256(akey[:]))
	versions := srv.Store.DeviceListVersions(acct)
	if len(versions) < 3 {
		t.Fatalf("alice's list versions on the server: %v, want at least 3", versions)
	}
	srv.Store.RollBackDeviceList(acct, versions[len(versions)-2]) // the one with the phone

	// The phone's keys invite Bob to a "chat with alice".
	mallory := NewMember(t, srv.Link, nil)
	kps, ids := mallory.ClaimAll(bob.AccountKey())
	g, _, welcome := BuildGroup(t, phone.Identity(phone.Honest()), kps)
	gh := sha256.Sum256(g.GroupID())
	srv.Inject(wire.KindWelcome, gh, g.Epoch(), ids, welcome)
	ct := AppMessage(t, g, map[string]any{"type": "text", "text": "it's me, on my phone", "sent": time.Now().UnixMilli()})
	srv.Inject(wire.KindApplication, gh, g.Epoch(), ids, ct)
	waitMessage(t, bob, "a warning about the rolled-back list", warning("older"))
	noMessage(t, bob, 300*time.Millisecond, "the revoked phone's text", text("alice", "it's me, on my phone"))
	if _, err := bob.SafetyNumber(ctx, "alice"); err == nil {
		t.Fatal("bob computed a safety number from a rolled-back device list")
	}
}
