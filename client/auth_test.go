//go:build !js

package client

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

// seedLists copies the verified device lists that others know into c, as
// if c had fetched them just now (for tests that process offline).
func seedLists(c *Client, others ...*Client) {
	c.lists.mu.Lock()
	defer c.lists.mu.Unlock()
	for _, o := range others {
		o.lists.mu.Lock()
		for a, kl := range o.lists.known {
			cp := *kl
			cp.fetched = time.Now()
			c.lists.known[a] = &cp
		}
		o.lists.mu.Unlock()
	}
}

func TestDeviceCredentialVerifies(t *testing.T) {
	acct := ed25519.NewKeyFromSeed(make([]byte, 32))
	devPriv := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	var dev DeviceKey
	copy(dev[:], devPriv.Public().(ed25519.PublicKey))
	cred := deviceCredential(acct, dev, 1234)
	if _, _, err := verifyCredential(cred, dev[:]); err != nil {
		t.Fatal(err)
	}
	// Another signature key than the certified one.
	other := append([]byte(nil), dev[:]...)
	other[0] ^= 1
	if _, _, err := verifyCredential(cred, other); !errors.Is(err, ErrForgedDevice) {
		t.Fatalf("other signature key: %v", err)
	}
	// A tampered creation time breaks the certificate.
	bad := append([]byte(nil), cred...)
	bad[70] ^= 1
	if _, _, err := verifyCredential(bad, dev[:]); !errors.Is(err, ErrForgedDevice) {
		t.Fatalf("tampered certificate: %v", err)
	}
	if _, _, err := verifyCredential(cred[:64], dev[:]); !errors.Is(err, ErrForgedDevice) {
		t.Fatalf("old 64-byte credential: %v", err)
	}
}

func TestDeviceListSignature(t *testing.T) {
	acct := ed25519.NewKeyFromSeed(make([]byte, 32))
	var a AccountKey
	copy(a[:], acct.Public().(ed25519.PublicKey))
	blob := SignDeviceList(acct, 3, []ListedDevice{{Key: DeviceKey{1}, Created: 5}, {Key: DeviceKey{2}}})
	l, err := ParseDeviceList(a, blob)
	if err != nil || l.Version != 3 || len(l.Devices) != 2 || !l.Has(DeviceKey{2}) || l.Has(DeviceKey{3}) {
		t.Fatalf("ParseDeviceList = %+v, %v", l, err)
	}
	for i := range blob {
		bad := append([]byte(nil), blob...)
		bad[i] ^= 0x40
		if _, err := ParseDeviceList(a, bad); !errors.Is(err, ErrDeviceListInvalid) {
			t.Fatalf("flipped byte %d accepted: %v", i, err)
		}
	}
	if _, err := ParseDeviceList(AccountKey{9}, blob); err == nil {
		t.Fatal("list accepted for another account")
	}
}

// FuzzParseDeviceList: the device list decoder never panics, and what it
// accepts re-signs to the same bytes.
func FuzzParseDeviceList(f *testing.F) {
	acct := ed25519.NewKeyFromSeed(make([]byte, 32))
	var a AccountKey
	copy(a[:], acct.Public().(ed25519.PublicKey))
	f.Add(SignDeviceList(acct, 1, []ListedDevice{{Key: DeviceKey{1}, Created: 5}}))
	f.Add(SignDeviceList(acct, 2, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseDeviceList(a, b)
		if err != nil {
			return
		}
		if string(SignDeviceList(acct, l.Version, l.Devices)) != string(b) {
			t.Fatalf("accepted list does not re-encode to the same bytes")
		}
	})
}
