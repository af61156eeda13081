package mls

import (
	"encoding/json"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
)

// stateVersion is the version of the serialized group state.
const stateVersion = 1

// groupState is the persisted form of a Group. Structures with an MLS
// encoding are stored in it; the envelope is JSON. It holds secrets: the
// caller must store it encrypted. A pending commit is persisted as the
// state of the epoch it leads to.
type groupState struct {
	Version     int
	SigningKey  []byte
	Context     []byte // GroupContext
	Tree        []byte // RatchetTree
	Private     []byte // tree.Private
	Epoch       epochState
	SecretTree  []byte
	Interim     []byte
	Tag         []byte
	Proposals   []proposalState
	Resumption  []resumptionState
	Active      bool
	ReInit      []byte // ReInitProposal, if any
	Initialized bool
	// Pending is the group as it will be once the pending commit is
	// merged; nil without a pending commit.
	Pending *groupState `json:",omitempty"`
	// Past holds the kept past epochs' decryption state.
	Past []pastState `json:",omitempty"`
}

type epochState struct {
	Joiner, Welcome, Epoch, SenderData, Encryption, Exporter, External, Confirm, Membership, Resumption, Authenticator, Init []byte
}

type proposalState struct {
	Ref        []byte
	Proposal   []byte
	SenderType uint8
	SenderLeaf uint32
	SenderIdx  uint32
	UpdatePriv []byte
	UpdateSig  []byte `json:",omitempty"`
}

type resumptionState struct {
	Epoch uint64
	PSK   []byte
}

// Marshal serializes the group's whole state (tree, private path keys,
// key schedule, secret tree position, cached proposals, resumption PSKs,
// and a pending commit) so that Restore can resume it after a restart: a
// client that crashed after sending a commit can still merge or clear it
// once the delivery service answers. The bytes are secret.
func (g *Group) Marshal() ([]byte, error) {
	st, err := g.state()
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

// state is the persisted form of g.
func (g *Group) state() (*groupState, error) {
	st := &groupState{Version: stateVersion, SigningKey: g.sig, Interim: g.interim, Tag: g.tag, Active: g.active, Initialized: true}
	var err error
	if st.Context, err = codec.Marshal(&g.ctx); err != nil {
		return nil, fmt.Errorf("mls: saving group: %w", err)
	}
	rt := g.tree.RatchetTree()
	if st.Tree, err = codec.Marshal(&rt); err != nil {
		return nil, fmt.Errorf("mls: saving group: %w", err)
	}
	if st.Private, err = codec.Marshal(g.priv); err != nil {
		return nil, fmt.Errorf("mls: saving group: %w", err)
	}
	if st.SecretTree, err = g.secrets.Bytes(); err != nil {
		return nil, fmt.Errorf("mls: saving group: %w", err)
	}
	e := g.epoch
	st.Epoch = epochState{e.JoinerSecret, e.WelcomeSecret, e.EpochSecret, e.SenderDataSecret, e.EncryptionSecret, e.ExporterSecret,
		e.ExternalSecret, e.ConfirmationKey, e.MembershipKey, e.ResumptionPSK, e.EpochAuthenticator, e.InitSecret}
	for _, p := range g.proposals {
		pb, err := codec.Marshal(p.proposal)
		if err != nil {
			return nil, fmt.Errorf("mls: saving group: %w", err)
		}
		st.Proposals = append(st.Proposals, proposalState{p.ref, pb, uint8(p.sender.Type), p.sender.LeafIndex, p.sender.SenderIndex, p.updatePriv, p.updateSig})
	}
	for _, r := range g.resumption {
		st.Resumption = append(st.Resumption, resumptionState{r.epoch, r.psk})
	}
	if g.reinit != nil {
		if st.ReInit, err = codec.Marshal(g.reinit); err != nil {
			return nil, fmt.Errorf("mls: saving group: %w", err)
		}
	}
	for i := range g.past {
		ps, err := g.past[i].state()
		if err != nil {
			return nil, fmt.Errorf("mls: saving group: %w", err)
		}
		st.Past = append(st.Past, ps)
	}
	if g.pending != nil {
		if st.Pending, err = g.pending.next.state(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Restore rebuilds a Group saved by Marshal, with cfg's injected
// dependencies.
func Restore(cfg Config, b []byte) (*Group, error) {
	var st groupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	return restoreState(cfg, &st, true)
}

// restoreState rebuilds a group from st; a pending commit's state, which
// has none of its own, is restored only where allowPending is set.
func restoreState(cfg Config, st *groupState, allowPending bool) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st.Version != stateVersion || !st.Initialized {
		return nil, fmt.Errorf("mls: restoring group: unknown state version %d", st.Version)
	}
	g := &Group{cfg: cfg, sig: st.SigningKey, interim: st.Interim, tag: st.Tag, active: st.Active}
	if err := codec.Unmarshal(st.Context, &g.ctx); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	s, err := getSuite(CipherSuite(g.ctx.CipherSuite))
	if err != nil {
		return nil, err
	}
	g.suite = s
	var rt format.RatchetTree
	if err := codec.Unmarshal(st.Tree, &rt); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	if g.tree, err = tree.FromRatchetTree(s, rt); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	g.priv = &tree.Private{}
	if err := codec.Unmarshal(st.Private, g.priv); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	if g.secrets, err = schedule.ParseSecretTree(st.SecretTree); err != nil {
		return nil, fmt.Errorf("mls: restoring group: %w", err)
	}
	e := st.Epoch
	g.epoch = &schedule.Epoch{Suite: s, JoinerSecret: e.Joiner, WelcomeSecret: e.Welcome, EpochSecret: e.Epoch, SenderDataSecret: e.SenderData,
		EncryptionSecret: e.Encryption, ExporterSecret: e.Exporter, ExternalSecret: e.External, ConfirmationKey: e.Confirm,
		MembershipKey: e.Membership, ResumptionPSK: e.Resumption, EpochAuthenticator: e.Authenticator, InitSecret: e.Init}
	for _, p := range st.Proposals {
		var prop format.Proposal
		if err := codec.Unmarshal(p.Proposal, &prop); err != nil {
			return nil, fmt.Errorf("mls: restoring group: %w", err)
		}
		g.proposals = append(g.proposals, cachedProposal{ref: p.Ref, proposal: &prop,
			sender: format.Sender{Type: format.SenderType(p.SenderType), LeafIndex: p.SenderLeaf, SenderIndex: p.SenderIdx}, updatePriv: p.UpdatePriv, updateSig: p.UpdateSig})
	}
	for _, r := range st.Resumption {
		g.resumption = append(g.resumption, resumptionPSK{r.Epoch, r.PSK})
	}
	if st.ReInit != nil {
		g.reinit = new(format.ReInitProposal)
		if err := codec.Unmarshal(st.ReInit, g.reinit); err != nil {
			return nil, fmt.Errorf("mls: restoring group: %w", err)
		}
	}
	if g.tree.Leaf(g.priv.Leaf) == nil && g.active {
		return nil, fmt.Errorf("mls: restoring group: own leaf is blank")
	}
	for i := range st.Past {
		if st.Past[i].Identities == nil && st.Past[i].Ended == 0 {
			continue // written before senders were kept per epoch
		}
		p, err := st.Past[i].restore()
		if err != nil {
			return nil, fmt.Errorf("mls: restoring group: %w", err)
		}
		g.past = append(g.past, p)
	}
	if st.Pending != nil {
		if !allowPending {
			return nil, fmt.Errorf("mls: restoring group: nested pending commit")
		}
		next, err := restoreState(cfg, st.Pending, false)
		if err != nil {
			return nil, err
		}
		g.pending = &pendingCommit{next: next}
	}
	return g, nil
}
