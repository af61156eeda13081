package mls

import (
	"errors"
	"slices"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/framing"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// This file keeps the decryption state of a bounded number of past epochs,
// so that an application message sent just before a commit still opens
// after the commit was merged (RFC 9420 §15.3: delayed and reordered
// application messages; §9.2: keys are deleted once used, and a past
// epoch's whole secret tree once it falls out of the window).

// pastEpoch is what decrypting and authenticating the application messages
// of one past epoch needs: its GroupContext (signatures bind it, §6.1),
// its sender_data_secret, its secret tree and the signature key and
// credential identity of each leaf then, so that a late message is
// attributed with that epoch's tree (docs/spec/mls-policy.md, "Senders are
// judged in their own epoch"). It holds no key to send with.
type pastEpoch struct {
	ctx              format.GroupContext
	senderDataSecret []byte
	secrets          *schedule.SecretTree
	sigKeys          [][]byte  // by leaf index; nil for a blank leaf
	identities       [][]byte  // by leaf index; the basic credential's identity
	ended            time.Time // when we left the epoch, by Config.Now
}

// rememberEpochFrom records prev's current epoch as the most recent past
// epoch of n, keeping at most Config.PastEpochs of them, none older than
// Config.PastEpochMaxAge.
func (n *Group) rememberEpochFrom(prev *Group) {
	n.past = append([]pastEpoch(nil), prev.past...)
	if prev.epoch != nil && prev.secrets != nil {
		keys := make([][]byte, prev.tree.NumLeaves())
		ids := make([][]byte, prev.tree.NumLeaves())
		for _, l := range prev.tree.Members() {
			keys[l] = prev.tree.Leaf(l).SignatureKey
			ids[l] = prev.tree.Leaf(l).Credential.Identity
		}
		n.past = append(n.past, pastEpoch{ctx: prev.ctx, senderDataSecret: prev.epoch.SenderDataSecret, secrets: prev.secrets,
			sigKeys: keys, identities: ids, ended: n.cfg.now()})
	}
	n.past = slices.DeleteFunc(n.past, func(p pastEpoch) bool { return n.expired(&p) })
	if k := n.cfg.pastEpochs(); len(n.past) > k {
		n.past = n.past[len(n.past)-k:]
	}
}

// expired reports whether a past epoch is older than Config.PastEpochMaxAge.
func (g *Group) expired(p *pastEpoch) bool {
	return g.cfg.now().Sub(p.ended) > g.cfg.pastEpochMaxAge()
}

// pastSender is the sender of a message of a kept past epoch as that
// epoch's tree names it, or nil.
func (g *Group) pastSender(epoch uint64, s format.Sender) *Member {
	for i := range g.past {
		p := &g.past[i]
		if p.ctx.Epoch != epoch {
			continue
		}
		l := s.LeafIndex
		if s.Type != format.SenderMember || uint64(l) >= uint64(len(p.sigKeys)) || p.sigKeys[l] == nil || uint64(l) >= uint64(len(p.identities)) {
			return nil
		}
		return &Member{LeafIndex: l, Identity: p.identities[l], SignaturePublicKey: p.sigKeys[l]}
	}
	return nil
}

// install replaces g with n, the group at a later epoch, and wipes the
// secret trees that n no longer keeps (RFC 9420 §9.2). The trees of
// g's epochs that n keeps are the live ones: a pending commit was staged
// (or restored) before g received its latest messages.
func (g *Group) install(n *Group) {
	live := map[uint64]*schedule.SecretTree{g.ctx.Epoch: g.secrets}
	for _, p := range g.past {
		live[p.ctx.Epoch] = p.secrets
	}
	kept := map[*schedule.SecretTree]bool{n.secrets: true}
	for i := range n.past {
		if st, ok := live[n.past[i].ctx.Epoch]; ok && st != nil {
			n.past[i].secrets = st
		}
		kept[n.past[i].secrets] = true
	}
	for _, st := range live {
		if st != nil && !kept[st] {
			st.Wipe()
		}
	}
	*g = *n
}

// findPastEpoch returns the kept past epoch a PrivateMessage of this group
// was sent in, or nil.
func (g *Group) findPastEpoch(pm *format.PrivateMessage) *pastEpoch {
	if string(pm.GroupID) != string(g.ctx.GroupID) {
		return nil
	}
	for i := range g.past {
		// docs/spec/mls-policy.md: past epochs are kept for a bounded
		// time as well as count.
		if g.past[i].ctx.Epoch == pm.Epoch && !g.expired(&g.past[i]) {
			return &g.past[i]
		}
	}
	return nil
}

// unprotect opens an application message of a past epoch (RFC 9420
// §15.3); handshake messages of past epochs are refused (§12.4.2: a
// proposal or commit applies only to the epoch it was sent in).
func (p *pastEpoch) unprotect(g *Group, pm *format.PrivateMessage) (*format.AuthenticatedContent, error) {
	if pm.ContentType != format.ContentApplication {
		return nil, invalidErr("6", "handshake message of a past epoch", ErrWrongEpoch)
	}
	e := &framing.Epoch{Suite: g.suite, Context: &p.ctx, SenderDataSecret: p.senderDataSecret, Secrets: p.secrets}
	ac, err := e.UnprotectPrivate(pm, p.senderKey)
	return ac, framingErr(err)
}

// senderKey is the signature key the sender's leaf had in the past epoch
// (RFC 9420 §6.1, §6.3.2: the sender must have been a member then).
func (p *pastEpoch) senderKey(c *format.FramedContent) ([]byte, error) {
	l := c.Sender.LeafIndex
	if c.Sender.Type != format.SenderMember || uint64(l) >= uint64(len(p.sigKeys)) || p.sigKeys[l] == nil {
		return nil, invalid("6.3.2", "sender was not a member in that epoch")
	}
	return p.sigKeys[l], nil
}

var errPastState = errors.New("mls: restoring group: inconsistent past epoch")

// pastState is the persisted form of a pastEpoch. A state written before
// Identities and Ended existed restores without the epoch (it cannot
// attribute senders).
type pastState struct {
	Context    []byte
	SenderData []byte
	SecretTree []byte
	SigKeys    [][]byte
	Identities [][]byte `json:",omitempty"`
	Ended      int64    `json:",omitempty"` // Unix nanoseconds
}

func (p *pastEpoch) state() (pastState, error) {
	st := pastState{SenderData: p.senderDataSecret, SigKeys: p.sigKeys, Identities: p.identities, Ended: p.ended.UnixNano()}
	var err error
	if st.Context, err = codec.Marshal(&p.ctx); err != nil {
		return st, err
	}
	st.SecretTree, err = p.secrets.Bytes()
	return st, err
}

func (st *pastState) restore() (pastEpoch, error) {
	p := pastEpoch{senderDataSecret: st.SenderData, sigKeys: st.SigKeys, identities: st.Identities, ended: time.Unix(0, st.Ended)}
	if len(p.identities) != len(p.sigKeys) {
		return p, errPastState
	}
	if err := codec.Unmarshal(st.Context, &p.ctx); err != nil {
		return p, err
	}
	var err error
	if p.secrets, err = schedule.ParseSecretTree(st.SecretTree); err != nil {
		return p, err
	}
	// Every kept leaf key sits at a leaf of that epoch's secret tree.
	if uint64(len(p.sigKeys)) > uint64(p.secrets.LeafCount()) {
		return p, errPastState
	}
	return p, nil
}
