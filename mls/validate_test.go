package mls

import (
	"errors"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
)

// rawProposal frames p from x without x's own validation, as a faulty or
// malicious member would send it.
func rawProposal(t *testing.T, x *client, p *format.Proposal) []byte {
	t.Helper()
	ac, err := x.g.signContent(true, nil, func(fc *format.FramedContent) {
		fc.ContentType, fc.Proposal = format.ContentProposal, p
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := x.g.protect(ac)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// editedKeyPackage returns x's KeyPackage after edit, re-signed by x.
func editedKeyPackage(t *testing.T, x *client, edit func(*format.KeyPackage)) *format.KeyPackage {
	t.Helper()
	kp, err := parseKeyPackage(x.kp.Message)
	if err != nil {
		t.Fatal(err)
	}
	edit(kp)
	s, _ := getSuite(x.id.CipherSuite)
	if kp.LeafNode.Signature, err = s.SignWithLabel(x.id.SignaturePrivateKey, "LeafNodeTBS", kp.LeafNode.TBS(nil, 0)); err != nil {
		t.Fatal(err)
	}
	if kp.Signature, err = s.SignWithLabel(x.id.SignaturePrivateKey, "KeyPackageTBS", kp.TBS()); err != nil {
		t.Fatal(err)
	}
	return kp
}

func gceProposal(exts ...format.Extension) *format.Proposal {
	return &format.Proposal{Type: format.ProposalGroupContextExtensions, GroupContextExtensions: &format.GroupContextExtensionsProposal{Extensions: exts}}
}

func requiredCaps(rc format.RequiredCapabilities) format.Extension {
	return format.Extension{Type: format.ExtRequiredCapabilities, Data: codec.MustMarshal(&rc)}
}

func TestProposalValidationRejections(t *testing.T) {
	const unknownExt, unknownProposal = format.ExtensionType(0xff01), format.ProposalType(0x0f0f)
	memberA := format.Sender{Type: format.SenderMember, LeafIndex: 0}
	initProp := &format.Proposal{Type: format.ProposalExternalInit, ExternalInit: &format.ExternalInitProposal{KEMOutput: []byte{1}}}
	cases := []struct {
		name    string
		section string
		run     func(t *testing.T, a, b, c *client) error
	}{
		{"non-default proposal type unsupported by members", "12.2", func(t *testing.T, a, b, c *client) error {
			ec := &epochChange{next: b.g.clone(), committer: memberA, props: []resolvedProposal{{p: &format.Proposal{Type: unknownProposal}, sender: memberA, byRef: true}}}
			return ec.validateProposalList(b.g)
		}},
		{"committer includes its own Update", "12.2", func(t *testing.T, a, b, c *client) error {
			up := &format.Proposal{Type: format.ProposalUpdate, Update: &format.UpdateProposal{LeafNode: *a.g.leafNode(0)}}
			ec := &epochChange{next: b.g.clone(), committer: memberA, props: []resolvedProposal{{p: up, sender: memberA, byRef: true}}}
			return ec.validateProposalList(b.g)
		}},
		{"extension unsupported by members", "12.1.7", func(t *testing.T, a, b, c *client) error {
			_, err := b.g.Process(rawProposal(t, a, gceProposal(format.Extension{Type: unknownExt, Data: []byte{}})))
			return err
		}},
		{"required extension unsupported by members", "11.1", func(t *testing.T, a, b, c *client) error {
			rc := requiredCaps(format.RequiredCapabilities{Extensions: []format.ExtensionType{unknownExt}, Proposals: []format.ProposalType{}, Credentials: []format.CredentialType{}})
			_, err := b.g.Process(rawProposal(t, a, gceProposal(rc)))
			return err
		}},
		{"required proposal type unsupported by members", "11.1", func(t *testing.T, a, b, c *client) error {
			rc := requiredCaps(format.RequiredCapabilities{Extensions: []format.ExtensionType{}, Proposals: []format.ProposalType{unknownProposal}, Credentials: []format.CredentialType{}})
			_, err := a.g.ProposeGroupContextExtensions([]Extension{{Type: uint16(rc.Type), Data: rc.Data}}, SendOptions{})
			return err
		}},
		{"added member lacks a required capability", "11.1", func(t *testing.T, a, b, c *client) error {
			rc := requiredCaps(format.RequiredCapabilities{Extensions: []format.ExtensionType{format.ExtLastResort}, Proposals: []format.ProposalType{}, Credentials: []format.CredentialType{}})
			p, err := a.g.ProposeGroupContextExtensions([]Extension{{Type: uint16(rc.Type), Data: rc.Data}}, SendOptions{})
			if err != nil {
				return err
			}
			deliver(t, p, b, c)
			mustCommit(t, a, CommitOptions{}, b, c)
			d := newClient(t, "dave", 4)
			kp := editedKeyPackage(t, d, func(kp *format.KeyPackage) { kp.LeafNode.Capabilities.Extensions = []format.ExtensionType{} })
			_, err = b.g.Process(rawProposal(t, a, &format.Proposal{Type: format.ProposalAdd, Add: &format.AddProposal{KeyPackage: *kp}}))
			return err
		}},
		{"added member lacks an extension set in the same commit", "12.1.7", func(t *testing.T, a, b, c *client) error {
			d := newClient(t, "dave", 4)
			kp := editedKeyPackage(t, d, func(kp *format.KeyPackage) { kp.LeafNode.Capabilities.Extensions = []format.ExtensionType{} })
			lr := format.Extension{Type: format.ExtLastResort, Data: []byte{}}
			ec := &epochChange{next: b.g.clone(), committer: memberA, props: []resolvedProposal{
				{p: gceProposal(lr), sender: memberA},
				{p: &format.Proposal{Type: format.ProposalAdd, Add: &format.AddProposal{KeyPackage: *kp}}, sender: memberA},
			}}
			return ec.validateProposalList(b.g)
		}},
		{"Add of an expired key package from another member", "7.3", func(t *testing.T, a, b, c *client) error {
			// dave's KeyPackage expired 10 days before b's clock; a's
			// clock is behind, so a still proposes it.
			d := newClient(t, "dave", 4)
			d.cfg.Now = func() time.Time { return time.Unix(1_700_000_000, 0).Add(-100 * 24 * time.Hour) }
			kp, err := d.id.NewKeyPackage(d.cfg, KeyPackageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a.g.cfg.Now = func() time.Time { return time.Unix(1_700_000_000, 0).Add(-50 * 24 * time.Hour) }
			p, err := a.g.ProposeAdd(kp.Message, SendOptions{})
			if err != nil {
				t.Fatalf("proposer rejected the key package: %v", err)
			}
			_, err = b.g.Process(p)
			return err
		}},
		{"resync removes another member's leaf (joiner)", "12.4.3.2", func(t *testing.T, a, b, c *client) error {
			gi, _ := a.g.GroupInfo(true)
			other := c.g.OwnLeafIndex()
			_, _, err := JoinExternal(b.cfg, b.id, gi, ExternalJoinOptions{ResyncLeaf: &other})
			return err
		}},
		{"resync removes another member's leaf (receiver)", "12.4.3.2", func(t *testing.T, a, b, c *client) error {
			rm := &format.Proposal{Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: 2}}
			joiner := format.Sender{Type: format.SenderNewMemberCommit}
			ec := &epochChange{next: a.g.clone(), committer: joiner, external: true, joinerLeaf: b.g.leafNode(1),
				props: []resolvedProposal{{p: initProp, sender: joiner}, {p: rm, sender: joiner}}}
			return ec.validateProposalList(a.g)
		}},
		{"external commit with a proposal by reference", "12.4.3.2", func(t *testing.T, a, b, c *client) error {
			psk := &format.Proposal{Type: format.ProposalPreSharedKey, PreSharedKey: &format.PreSharedKeyProposal{}}
			joiner := format.Sender{Type: format.SenderNewMemberCommit}
			ec := &epochChange{next: a.g.clone(), committer: joiner, external: true, joinerLeaf: b.g.leafNode(1),
				props: []resolvedProposal{{p: initProp, sender: joiner}, {p: psk, sender: memberA, byRef: true}}}
			return ec.validateProposalList(a.g)
		}},
		{"external commit with an Add", "12.4.3.2", func(t *testing.T, a, b, c *client) error {
			d := newClient(t, "dave", 4)
			kp, _ := parseKeyPackage(d.kp.Message)
			joiner := format.Sender{Type: format.SenderNewMemberCommit}
			ec := &epochChange{next: a.g.clone(), committer: joiner, external: true, joinerLeaf: &kp.LeafNode,
				props: []resolvedProposal{{p: initProp, sender: joiner}, {p: &format.Proposal{Type: format.ProposalAdd, Add: &format.AddProposal{KeyPackage: *kp}}, sender: joiner}}}
			return ec.validateProposalList(a.g)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := setupGroup(t, true)
			before, n := b.g.EpochAuthenticator(), len(b.g.proposals)
			err := tc.run(t, a, b, c)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Section != tc.section {
				t.Fatalf("got %v, want a *ValidationError of §%s", err, tc.section)
			}
			if b.g.Epoch() == 1 && (string(before) != string(b.g.EpochAuthenticator()) || len(b.g.proposals) != n) {
				t.Fatal("rejected message changed the group")
			}
		})
	}
}

// Our own pending Update is never committed by us (RFC 9420 §12.4): the
// commit carries a path instead, which refreshes our leaf.
func TestOwnUpdateBecomesPath(t *testing.T) {
	a, b, c := setupGroup(t, true)
	up, err := a.g.ProposeUpdate(SendOptions{Public: true})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, up, b, c)
	oldKey := a.g.leafNode(0).EncryptionKey
	d := newClient(t, "dave", 4)
	res := mustCommit(t, a, CommitOptions{AddKeyPackages: [][]byte{d.kp.Message}, SendOptions: SendOptions{Public: true}}, b, c)
	var m format.MLSMessage
	if err := codec.Unmarshal(res.Commit, &m); err != nil {
		t.Fatal(err)
	}
	commit := m.PublicMessage.Content.Commit
	if commit.Path == nil || len(commit.Proposals) != 1 || commit.Proposals[0].Type != format.ProposalOrRefProposal {
		t.Fatalf("commit has path=%v and %d proposals", commit.Path != nil, len(commit.Proposals))
	}
	if string(a.g.leafNode(0).EncryptionKey) == string(oldKey) {
		t.Fatal("leaf key not refreshed")
	}
	sameEpoch(t, a, b, c)
	sendAll(t, a, b, c)
}
