package reach

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestInvitationRoundTrip(t *testing.T) {
	key := InvitationKey([]byte("a slice secret of 32 bytes......"))
	now := time.Unix(1_800_000_000, 0)
	in := Invitation{Issuer: [32]byte{1, 2, 3}, Nonce: [16]byte{9}, NotAfter: now.Add(time.Hour).UTC()}
	tok := MintInvitation(key, in)
	if len(tok) != InvitationSize {
		t.Fatalf("token is %d bytes, want %d", len(tok), InvitationSize)
	}
	got, err := OpenInvitation(key, tok, now)
	if err != nil || got != in {
		t.Fatalf("OpenInvitation = %+v, %v; want %+v", got, err, in)
	}
	if got.Operator() {
		t.Error("an account's invitation reads as the operator's")
	}
	if !(Invitation{}).Operator() {
		t.Error("a zero issuer is not the operator")
	}
}

// TestAdversaryForgedInvitation: every byte of a token matters, another
// server's key does not open it, and an expired one is refused.
func TestAdversaryForgedInvitation(t *testing.T) {
	key := InvitationKey([]byte("a slice secret of 32 bytes......"))
	now := time.Unix(1_800_000_000, 0)
	tok := MintInvitation(key, Invitation{Issuer: [32]byte{7}, NotAfter: now.Add(time.Hour)})
	for i := range tok {
		bad := bytes.Clone(tok)
		bad[i] ^= 0x01
		if _, err := OpenInvitation(key, bad, now); !errors.Is(err, ErrBadInvitation) {
			t.Fatalf("byte %d flipped: %v, want ErrBadInvitation", i, err)
		}
	}
	if _, err := OpenInvitation(InvitationKey([]byte("another server's secret.........")), tok, now); !errors.Is(err, ErrBadInvitation) {
		t.Errorf("another key: %v, want ErrBadInvitation", err)
	}
	if _, err := OpenInvitation(key, tok[:len(tok)-1], now); !errors.Is(err, ErrBadInvitation) {
		t.Errorf("truncated: %v, want ErrBadInvitation", err)
	}
	if _, err := OpenInvitation(key, tok, now.Add(time.Hour)); !errors.Is(err, ErrExpiredInvitation) {
		t.Errorf("expired: %v, want ErrExpiredInvitation", err)
	}
}

// FuzzOpenInvitation: no input panics, and whatever opens re-mints to the
// same bytes.
func FuzzOpenInvitation(f *testing.F) {
	key := InvitationKey([]byte("fuzz secret"))
	now := time.Unix(1_800_000_000, 0)
	f.Add(MintInvitation(key, Invitation{NotAfter: now.Add(time.Hour)}))
	f.Add([]byte("SZI\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := OpenInvitation(key, b, now)
		if err != nil {
			return
		}
		if again := MintInvitation(key, in); !bytes.Equal(again, b) {
			t.Fatalf("opened %x but re-mints %x", b, again)
		}
	})
}
