package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
)

// reframe re-signs and re-tags a public commit of a after edit changed it,
// so that only the edited check fails.
func reframe(t *testing.T, a *client, signer []byte, msg []byte, edit func(*format.PublicMessage)) []byte {
	t.Helper()
	var m format.MLSMessage
	if err := codec.Unmarshal(msg, &m); err != nil {
		t.Fatal(err)
	}
	pm := m.PublicMessage
	edit(pm)
	ac := pm.Authenticated()
	tbs, _ := ac.TBS(&a.g.ctx)
	sig, err := a.g.suite.SignWithLabel(signer, "FramedContentTBS", tbs)
	if err != nil {
		t.Fatal(err)
	}
	pm.Auth.Signature = sig
	ac = pm.Authenticated()
	tbm, _ := ac.TBM(&a.g.ctx)
	pm.MembershipTag = a.g.suite.MAC(a.g.epoch.MembershipKey, tbm)
	return codec.MustMarshal(&m)
}

func TestForgedCommits(t *testing.T) {
	a, b, _ := setupGroup(t, true)
	res, err := a.g.Commit(CommitOptions{ForcePath: true, SendOptions: SendOptions{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"forged signature", reframe(t, a, b.id.SignaturePrivateKey, res.Commit, func(*format.PublicMessage) {}), ErrBadSignature},
		{"bad confirmation tag", reframe(t, a, a.id.SignaturePrivateKey, res.Commit, func(pm *format.PublicMessage) { pm.Auth.ConfirmationTag[0] ^= 1 }), ErrBadConfirmationTag},
		{"wrong epoch", reframe(t, a, a.id.SignaturePrivateKey, res.Commit, func(pm *format.PublicMessage) { pm.Content.Epoch++ }), ErrWrongEpoch},
		{"wrong group", reframe(t, a, a.id.SignaturePrivateKey, res.Commit, func(pm *format.PublicMessage) { pm.Content.GroupID = []byte("other") }), ErrWrongGroup},
	}
	for _, tc := range cases {
		before := b.g.EpochAuthenticator()
		_, err := b.g.Process(tc.msg)
		var ve *ValidationError
		if !errors.Is(err, tc.want) || !errors.As(err, &ve) || ve.Section == "" {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(before, b.g.EpochAuthenticator()) || b.g.Epoch() != 1 {
			t.Fatalf("%s: group changed", tc.name)
		}
	}
	if _, err := b.g.Process(res.Commit); err != nil {
		t.Fatalf("genuine commit: %v", err)
	}
}

// FuzzProcess feeds arbitrary bytes to a live group: no panic, and the
// group is unchanged whenever processing fails.
func FuzzProcess(f *testing.F) {
	t := &testing.T{}
	a, b, _ := setupGroup(t, true)
	app, _ := a.g.Encrypt([]byte("seed"), nil)
	prop, _ := a.g.ProposeRemove(2, SendOptions{Public: true})
	a.g.proposals = nil
	res, _ := a.g.Commit(CommitOptions{ForcePath: true, SendOptions: SendOptions{Public: true}})
	for _, s := range [][]byte{app, prop, res.Commit} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		g := b.g.clone()
		before, n := g.EpochAuthenticator(), len(g.proposals)
		if _, err := g.Process(msg); err != nil {
			if !bytes.Equal(before, g.EpochAuthenticator()) || len(g.proposals) != n {
				t.Fatalf("group changed on error %v", err)
			}
		}
	})
}
