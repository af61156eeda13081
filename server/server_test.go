package server_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/wire"
)

// TestRegisterAndLookup: a device registers under its account with a
// certificate over the session's authenticated key; bad certificates,
// certificates for another key, requests before hello or registration, and
// a device claimed by a second account are refused.
func TestRegisterAndLookup(t *testing.T) {
	ts := startServer(t, nil)
	aliceAcct := newAccount()
	alice1, alice2 := newIdentity(aliceAcct), newIdentity(aliceAcct)
	bob := newIdentity(newAccount())

	c1 := connect(t, ts, alice1)
	connect(t, ts, alice2)
	cb := dial(t, ts, bob)
	cb.hello()
	// Before registering, a device may not look anyone up.
	cb.wantError(&wire.LookupAccount{AccountKey: alice1.accountKey()}, wire.CodeUnauthorized)
	// A certificate for another device key (alice1's) is refused: the device
	// key is the session's, never a claimed one.
	cb.wantError(&wire.RegisterDevice{AccountKey: alice1.accountKey(), DeviceCert: alice1.cert()}, wire.CodeUnauthorized)
	bad := bob.cert()
	bad[0] ^= 1
	cb.wantError(&wire.RegisterDevice{AccountKey: bob.accountKey(), DeviceCert: bad}, wire.CodeUnauthorized)
	cb.must(&wire.RegisterDevice{AccountKey: bob.accountKey(), DeviceCert: bob.cert()}, wire.TypeOK)
	cb.must(&wire.RegisterDevice{AccountKey: bob.accountKey(), DeviceCert: bob.cert()}, wire.TypeOK) // idempotent

	// Bob's device key certified by Alice's account: Conflict.
	stolen := identity{account: aliceAcct, device: bob.device}
	cb.wantError(&wire.RegisterDevice{AccountKey: stolen.accountKey(), DeviceCert: stolen.cert()}, wire.CodeConflict)

	devs := cb.must(&wire.LookupAccount{AccountKey: alice1.accountKey()}, wire.TypeDevices).(*wire.Devices)
	if len(devs.Devices) != 2 {
		t.Fatalf("Alice has %d devices, want 2", len(devs.Devices))
	}
	for _, d := range devs.Devices {
		want := map[wire.DeviceKey]wire.Signature{alice1.deviceKey(): alice1.cert(), alice2.deviceKey(): alice2.cert()}
		if sig, ok := want[d.DeviceKey]; !ok || sig != d.DeviceCert {
			t.Fatalf("unexpected device entry %x", d.DeviceKey[:4])
		}
	}
	c1.wantError(&wire.LookupAccount{AccountKey: newIdentity(newAccount()).accountKey()}, wire.CodeNotFound)
	c1.must(&wire.Ping{}, wire.TypePong)

	// A request before ClientHello is a protocol violation: Error, then close.
	c := dial(t, ts, newIdentity(newAccount()))
	c.wantError(&wire.Ping{}, wire.CodeBadRequest)
	<-c.closed
}

// TestVersionNegotiation: ranges that do not meet get UnsupportedVersion
// and a close; ServerHello carries the configured limits.
func TestVersionNegotiation(t *testing.T) {
	limits := wire.ProtocolLimits
	limits.MaxPayload = 1000
	ts := startServer(t, func(c *server.Config) { c.Limits = limits })
	c := dial(t, ts, newIdentity(newAccount()))
	sh := c.must(&wire.ClientHello{MinVersion: 1, MaxVersion: 7}, wire.TypeServerHello).(*wire.ServerHello)
	if sh.Version != 1 || sh.Limits != limits {
		t.Fatalf("ServerHello %+v", sh)
	}
	c.wantError(&wire.ClientHello{MinVersion: 1, MaxVersion: 1}, wire.CodeBadRequest) // only once
	c2 := dial(t, ts, newIdentity(newAccount()))
	e := c2.wantError(&wire.ClientHello{MinVersion: 2, MaxVersion: 3}, wire.CodeUnsupportedVersion)
	if !strings.Contains(e.Message, "1..1") {
		t.Errorf("message %q does not list the server's versions", e.Message)
	}
	<-c2.closed
	// The announced limit is enforced.
	c3 := connect(t, ts, newIdentity(newAccount()))
	c3.wantError(&wire.Send{MsgID: msgID(), Kind: wire.KindApplication, Recipients: []wire.DeviceID{{1}}, Payload: make([]byte, 1001)}, wire.CodeTooLarge)
}

// TestKeyPackages: one-time packages are handed out once each, even to
// concurrent claimers; then the last-resort one, again and again.
func TestKeyPackages(t *testing.T) {
	ts := startServer(t, nil)
	bobAcct := newAccount()
	bob1, bob2 := newIdentity(bobAcct), newIdentity(bobAcct)
	cb1, cb2 := connect(t, ts, bob1), connect(t, ts, bob2)
	const perDevice = 20
	publish := func(c *client, tag string) {
		var kps [][]byte
		for i := range perDevice {
			kps = append(kps, []byte(fmt.Sprintf("%s-kp-%d", tag, i)))
		}
		r := c.must(&wire.PublishKeyPackages{KeyPackages: kps, LastResort: []byte(tag + "-last")}, wire.TypeKeyPackageCount).(*wire.KeyPackageCount)
		if r.OneTime < perDevice || !r.LastResort {
			t.Fatalf("KeyPackageCount %+v after publishing %d and a last resort", r, perDevice)
		}
	}
	publish(cb1, "b1")
	publish(cb2, "b2")

	// Only Bob's second device, by id.
	claimer := connect(t, ts, newIdentity(newAccount()))
	one := claimer.must(&wire.ClaimKeyPackages{AccountKey: bob1.accountKey(), Devices: []wire.DeviceID{bob2.deviceID()}}, wire.TypeKeyPackages).(*wire.KeyPackages)
	if len(one.KeyPackages) != 1 || one.KeyPackages[0].DeviceID != bob2.deviceID() || one.KeyPackages[0].LastResort {
		t.Fatalf("claim for bob2 only: %+v", one)
	}
	seen := map[string]int{string(one.KeyPackages[0].KeyPackage): 1}

	// Five claimers at once drain the rest.
	const claimers, rounds = 5, 10
	var mu sync.Mutex
	var wg sync.WaitGroup
	lastResort := 0
	for range claimers {
		c := connect(t, ts, newIdentity(newAccount()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				r, err := c.tryCall(&wire.ClaimKeyPackages{AccountKey: bob1.accountKey()})
				if err != nil {
					t.Error(err)
					return
				}
				kps, ok := r.(*wire.KeyPackages)
				if !ok || len(kps.KeyPackages) != 2 {
					t.Errorf("claim answered %v", r)
					return
				}
				mu.Lock()
				for _, kp := range kps.KeyPackages {
					want := "b1"
					if kp.DeviceID == bob2.deviceID() {
						want = "b2"
					}
					if !bytes.HasPrefix(kp.KeyPackage, []byte(want)) {
						t.Errorf("package %q handed out for the wrong device", kp.KeyPackage)
					}
					if kp.LastResort {
						lastResort++
						if !bytes.HasSuffix(kp.KeyPackage, []byte("-last")) {
							t.Errorf("package %q marked last resort", kp.KeyPackage)
						}
						continue
					}
					seen[string(kp.KeyPackage)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 2*perDevice {
		t.Errorf("%d distinct one-time packages handed out, want %d", len(seen), 2*perDevice)
	}
	for kp, n := range seen {
		if n != 1 {
			t.Errorf("one-time package %q handed out %d times", kp, n)
		}
	}
	if want := claimers*rounds*2 - (2*perDevice - 1); lastResort != want {
		t.Errorf("%d last-resort packages handed out, want %d", lastResort, want)
	}

	// Oversize and empty publications are refused; an account with no
	// packages at all is NotFound.
	limits := wire.ProtocolLimits
	limits.MaxKeyPackageSize = 100
	ts2 := startServer(t, func(c *server.Config) { c.Limits = limits })
	c2 := connect(t, ts2, newIdentity(newAccount()))
	c2.wantError(&wire.PublishKeyPackages{KeyPackages: [][]byte{make([]byte, 101)}}, wire.CodeTooLarge)
	c2.wantError(&wire.ClaimKeyPackages{AccountKey: bob1.accountKey()}, wire.CodeNotFound)
}
