package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/framing"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// forgeAsMember is a malicious member's forgery: every member knows the
// epoch's encryption_secret, so forger can derive victim's ratchet keys
// and produce a PrivateMessage that decrypts as victim's but carries
// forger's signature (RFC 9420 §6.3, §16.4). skip generations of
// victim's application ratchet are jumped first (0: the next one).
func forgeAsMember(t *testing.T, forger *client, victim uint32, skip int, text string) []byte {
	t.Helper()
	g := forger.g
	st := g.secrets.Clone()
	for range skip {
		if _, _, err := st.NextKey(victim, schedule.Application); err != nil {
			t.Fatal(err)
		}
	}
	return forgePrivate(t, g, st, victim, g.sig, text)
}

// forgePrivate is a PrivateMessage of text in g's current epoch, claiming
// leaf as, signed with signer, protected with the keys of st (a clone of
// the epoch's secret tree, so that g's own state does not move).
func forgePrivate(t *testing.T, g *Group, st *schedule.SecretTree, as uint32, signer []byte, text string) []byte {
	t.Helper()
	return forgeFramed(t, g, g.framingEpoch(st), format.WirePrivateMessage, format.FramedContent{
		Sender:      format.Sender{Type: format.SenderMember, LeafIndex: as},
		ContentType: format.ContentApplication, Application: []byte(text),
	}, signer)
}

// forgeFramed is content, stamped with g's group id and epoch, signed with
// signer and protected in e as wf says (a PrivateMessage or a
// PublicMessage): a message made outside the group's own send path, as an
// attacker makes one.
func forgeFramed(t *testing.T, g *Group, e *framing.Epoch, wf format.WireFormat, content format.FramedContent, signer []byte) []byte {
	t.Helper()
	content.GroupID, content.Epoch, content.AuthenticatedData = g.ctx.GroupID, g.ctx.Epoch, []byte{}
	ac, err := e.Sign(wf, &content, signer)
	if err != nil {
		t.Fatal(err)
	}
	msg := &format.MLSMessage{Version: format.MLS10, WireFormat: wf}
	if wf == format.WirePrivateMessage {
		msg.PrivateMessage, err = e.ProtectPrivate(ac)
	} else {
		msg.PublicMessage, err = e.ProtectPublic(ac)
	}
	if err != nil {
		t.Fatal(err)
	}
	return codec.MustMarshal(msg)
}

// TestAdversaryTamperedCiphertextBurnsKeys: an invalid message must change
// no state (docs/spec/mls-policy.md "Key consumption order"). A member
// forging the victim's next generation with its own signature, a tampered
// copy of the genuine message, and a forgery far ahead that would evict
// the victim's retained keys must all leave the genuine message readable.
func TestAdversaryTamperedCiphertextBurnsKeys(t *testing.T) {
	a, b, c := setupGroup(t, true)
	aLeaf := a.g.OwnLeafIndex()

	t.Run("bad signature at the genuine generation", func(t *testing.T) {
		forged := forgeAsMember(t, b, aLeaf, 0, "from alice, honest")
		_, err := c.g.Process(forged)
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged message: got %v, want ErrBadSignature", err)
		}
		wantApplication(t, c, encrypt(t, a, "genuine 1"), "genuine 1", c.g.Epoch(), aLeaf)
	})
	t.Run("tampered ciphertext", func(t *testing.T) {
		genuine := encrypt(t, a, "genuine 2")
		bad := bytes.Clone(genuine)
		bad[len(bad)-1] ^= 1 // the content's AEAD tag, past the sender data sample
		if _, err := c.g.Process(bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered message: got %v, want ErrDecrypt", err)
		}
		wantApplication(t, c, genuine, "genuine 2", c.g.Epoch(), aLeaf)
	})
	t.Run("forgery far ahead does not evict", func(t *testing.T) {
		// alice's next messages are held back by the network while the
		// attacker's forgery jumps the ratchet by the whole window.
		var held [][]byte
		for i := range 3 {
			held = append(held, encrypt(t, a, "held "+string(rune('0'+i))))
		}
		forged := forgeAsMember(t, b, aLeaf, DefaultMaxForwardDistance-1, "far ahead")
		if _, err := c.g.Process(forged); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("far-ahead forgery: got %v, want ErrBadSignature", err)
		}
		for i, m := range held {
			wantApplication(t, c, m, "held "+string(rune('0'+i)), c.g.Epoch(), aLeaf)
		}
	})
	t.Run("forged handshake message", func(t *testing.T) {
		// A forged proposal as alice: the handshake ratchet must not move
		// either, so alice's genuine proposal still decrypts.
		g := b.g
		st := g.secrets.Clone()
		p := &format.Proposal{Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: c.g.OwnLeafIndex()}}
		forged := forgeFramed(t, g, g.framingEpoch(st), format.WirePrivateMessage, format.FramedContent{
			Sender:      format.Sender{Type: format.SenderMember, LeafIndex: aLeaf},
			ContentType: format.ContentProposal, Proposal: p,
		}, g.sig)
		if _, err := c.g.Process(forged); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged proposal: got %v, want ErrBadSignature", err)
		}
		msg, err := a.g.ProposeUpdate(SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deliver(t, msg, c)
	})
}

// TestAdversaryNegativeWindow: a window bound that is negative or absurdly
// large is a configuration error, refused when a group is made, joined or
// restored, never wrapped to an unbounded window (docs/spec/mls-policy.md
// "Window bounds").
func TestAdversaryNegativeWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"negative OutOfOrderKeys", func(c *Config) { c.OutOfOrderKeys = -1 }},
		{"huge OutOfOrderKeys", func(c *Config) { c.OutOfOrderKeys = MaxOutOfOrderKeys + 1 }},
		{"huge MaxForwardDistance", func(c *Config) { c.MaxForwardDistance = MaxMaxForwardDistance + 1 }},
		{"negative ResumptionEpochs", func(c *Config) { c.ResumptionEpochs = -3 }},
		{"huge PastEpochs", func(c *Config) { c.PastEpochs = MaxPastEpochs + 1 }},
		{"negative PastEpochMaxAge", func(c *Config) { c.PastEpochMaxAge = -1 }},
		{"negative KeyPackageLifetime", func(c *Config) { c.KeyPackageLifetime = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newClient(t, "alice", 1)
			cfg := x.cfg
			tc.edit(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate: got %v, want ErrConfig", err)
			}
			if _, err := CreateGroup(cfg, x.id, []byte("g")); !errors.Is(err, ErrConfig) {
				t.Fatalf("CreateGroup: got %v, want ErrConfig", err)
			}
			x.g = mustGroup(t, x)
			st, err := x.g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Restore(cfg, st); !errors.Is(err, ErrConfig) {
				t.Fatalf("Restore: got %v, want ErrConfig", err)
			}
		})
	}
	// The boundaries themselves are valid.
	ok := Config{OutOfOrderKeys: MaxOutOfOrderKeys, MaxForwardDistance: MaxMaxForwardDistance, PastEpochs: -1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func mustGroup(t *testing.T, x *client) *Group {
	t.Helper()
	g, err := CreateGroup(x.cfg, x.id, []byte("g"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}
