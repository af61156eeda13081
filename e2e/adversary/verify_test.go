package adversary

import (
	"context"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/client"
)

// TestAdversaryDeviceAddedAfterVerify: Bob verified Alice. Then a device
// appears on Alice's account (whoever holds her account key: her, or a
// thief) and joins their chat. Bob must see which device joined, that
// Alice's devices changed, loudly because he had verified her, and her
// safety number must no longer be the verified one.
func TestAdversaryDeviceAddedAfterVerify(t *testing.T) {
	srv, alice, bob := aliceAndBob(t)
	ctx := context.Background()
	if err := sendText(t, alice, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "alice's text", text("alice", "hi"))
	// Joining names every device in the chat.
	waitMessage(t, bob, "the members and their devices", func(m client.Message) bool {
		return m.Kind == client.MessageEvent && strings.HasSuffix(m.Text, "in it: alice (device "+client.Fingerprint(alice.DeviceKey())+"), me (device "+client.Fingerprint(bob.DeviceKey())+")") ||
			strings.HasSuffix(m.Text, "in it: me (device "+client.Fingerprint(bob.DeviceKey())+"), alice (device "+client.Fingerprint(alice.DeviceKey())+")")
	})
	before, err := bob.Verify(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sn, _ := alice.SafetyNumber(ctx, "bob"); sn.Digits != before.Digits || !before.Devices {
		t.Fatalf("alice and bob see different safety numbers: %q vs %q (covers devices: %v)", sn.Digits, before.Digits, before.Devices)
	}

	second := newUser(t, srv.Link, "alice2", alice.AccountSeed())
	alice.SyncDevices(ctx)
	waitMessage(t, bob, "the new device joining", func(m client.Message) bool {
		return m.Kind == client.MessageEvent && m.Text == "alice added device "+client.Fingerprint(second.DeviceKey())
	})
	waitMessage(t, bob, "a loud warning", warning("since you verified alice"))
	verified, changed, err := bob.VerifiedState(ctx, "alice")
	if err != nil || !verified || !changed {
		t.Fatalf("VerifiedState = %v, %v, %v; want verified and changed", verified, changed, err)
	}
	after, err := bob.SafetyNumber(ctx, "alice")
	if err != nil || after.Digits == before.Digits {
		t.Fatalf("the safety number did not change with alice's devices: %v", err)
	}
	if !strings.Contains(after.QR, "SAMIZDAT-SAFETY") {
		t.Fatalf("QR form: %q", after.QR)
	}
}
