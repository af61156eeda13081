package framing

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

type hexBytes = vectors.Hex

type protectionVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hexBytes `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes `json:"signature_priv"`
	SignaturePub            hexBytes `json:"signature_pub"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	MembershipKey           hexBytes `json:"membership_key"`
	Proposal                hexBytes `json:"proposal"`
	ProposalPriv            hexBytes `json:"proposal_priv"`
	ProposalPub             hexBytes `json:"proposal_pub"`
	Commit                  hexBytes `json:"commit"`
	CommitPriv              hexBytes `json:"commit_priv"`
	CommitPub               hexBytes `json:"commit_pub"`
	Application             hexBytes `json:"application"`
	ApplicationPriv         hexBytes `json:"application_priv"`
}

// vectorLeaves is the size of the group in message-protection.json; the
// sender is leaf 1 (mls-implementations test-vectors.md).
const vectorLeaves = 2

func loadProtectionVectors(t testing.TB) []protectionVector {
	t.Helper()
	var vs []protectionVector
	vectors.Load(t, "message-protection.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// newEpoch makes a framing Epoch with a fresh secret tree from the vector.
func (v *protectionVector) newEpoch(t *testing.T) *Epoch {
	t.Helper()
	s, err := suite.Get(suite.ID(v.CipherSuite))
	if err != nil {
		t.Fatalf("cipher suite %d: %v", v.CipherSuite, err)
	}
	tree, err := schedule.NewSecretTree(s, v.EncryptionSecret, vectorLeaves, schedule.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &Epoch{
		Suite: s,
		Context: &format.GroupContext{
			Version: format.MLS10, CipherSuite: format.CipherSuite(v.CipherSuite), GroupID: v.GroupID,
			Epoch: v.Epoch, TreeHash: v.TreeHash, ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
			Extensions: []format.Extension{},
		},
		MembershipKey:    v.MembershipKey,
		SenderDataSecret: v.SenderDataSecret,
		Secrets:          tree,
		PaddingBlock:     32,
	}
}

// signingKey returns the vector's signature private key. ECDSA scalars are
// left-padded to the curve's size: the P-521 vector drops a leading zero
// byte (65 bytes instead of 66) and suite.SignWithLabel wants the
// fixed-size Field-Element-to-Octet-String form.
func (v *protectionVector) signingKey() []byte {
	pub := v.SignaturePub
	if len(pub)%2 == 1 && pub[0] == 0x04 { // uncompressed ECDSA point
		if size := (len(pub) - 1) / 2; len(v.SignaturePriv) < size {
			return append(make([]byte, size-len(v.SignaturePriv)), v.SignaturePriv...)
		}
	}
	return v.SignaturePriv
}

func (v *protectionVector) keyOf(c *format.FramedContent) ([]byte, error) {
	if c.Sender.Type != format.SenderMember || c.Sender.LeafIndex != 1 {
		return nil, fmt.Errorf("unexpected sender %+v", c.Sender)
	}
	return v.SignaturePub, nil
}

func parseMessage(t *testing.T, b []byte, wf format.WireFormat) *format.MLSMessage {
	t.Helper()
	var m format.MLSMessage
	if err := codec.Unmarshal(b, &m); err != nil {
		t.Fatalf("parsing MLSMessage: %v", err)
	}
	if m.WireFormat != wf {
		t.Fatalf("wire format %d, want %d", m.WireFormat, wf)
	}
	return &m
}

// unprotect parses raw as an MLSMessage of wire format wf (failing t if it
// is not one) and unprotects it in e with the vector's keys.
func unprotect(t *testing.T, e *Epoch, v *protectionVector, raw []byte, wf format.WireFormat) (*format.AuthenticatedContent, error) {
	t.Helper()
	m := parseMessage(t, raw, wf)
	if wf == format.WirePublicMessage {
		return e.UnprotectPublic(m.PublicMessage, v.keyOf)
	}
	return e.UnprotectPrivate(m.PrivateMessage, v.keyOf)
}

// body returns the encoding of the content's body as the vector lists it.
func body(t *testing.T, c *format.FramedContent) []byte {
	t.Helper()
	switch c.ContentType {
	case format.ContentApplication:
		return c.Application
	case format.ContentProposal:
		return codec.MustMarshal(c.Proposal)
	case format.ContentCommit:
		return codec.MustMarshal(c.Commit)
	}
	t.Fatalf("content type %d", c.ContentType)
	return nil
}

func checkContent(t *testing.T, what string, v *protectionVector, ac *format.AuthenticatedContent, ct format.ContentType, want []byte) {
	t.Helper()
	c := &ac.Content
	if c.ContentType != ct || !bytes.Equal(c.GroupID, v.GroupID) || c.Epoch != v.Epoch {
		t.Fatalf("%s: content type %d group %x epoch %d, want %d %x %d", what, c.ContentType, c.GroupID, c.Epoch, ct, v.GroupID, v.Epoch)
	}
	if got := body(t, c); !bytes.Equal(got, want) {
		t.Errorf("%s: content %x, want %x", what, got, want)
	}
}

func TestMessageProtectionVectors(t *testing.T) {
	for i, v := range loadProtectionVectors(t) {
		t.Run(fmt.Sprintf("message-protection.json/%d", i), func(t *testing.T) {
			cases := []struct {
				name      string
				ct        format.ContentType
				want      []byte
				pub, priv []byte
			}{
				{"proposal", format.ContentProposal, v.Proposal, v.ProposalPub, v.ProposalPriv},
				{"commit", format.ContentCommit, v.Commit, v.CommitPub, v.CommitPriv},
				{"application", format.ContentApplication, v.Application, nil, v.ApplicationPriv},
			}
			for _, c := range cases {
				// The vector's own messages.
				var decoded *format.AuthenticatedContent
				if c.pub != nil {
					ac, err := unprotect(t, v.newEpoch(t), &v, c.pub, format.WirePublicMessage)
					if err != nil {
						t.Fatalf("%s_pub: %v", c.name, err)
					}
					checkContent(t, c.name+"_pub", &v, ac, c.ct, c.want)
					decoded = ac
				}
				e := v.newEpoch(t)
				ac, err := unprotect(t, e, &v, c.priv, format.WirePrivateMessage)
				if err != nil {
					t.Fatalf("%s_priv: %v", c.name, err)
				}
				checkContent(t, c.name+"_priv", &v, ac, c.ct, c.want)
				if decoded == nil {
					decoded = ac
				}
				// RFC 9420 §9.2: the same PrivateMessage is refused twice.
				if _, err := unprotect(t, e, &v, c.priv, format.WirePrivateMessage); !errors.Is(err, ErrGeneration) || !errors.Is(err, schedule.ErrKeyUsed) {
					t.Errorf("%s_priv replayed: %v, want ErrGeneration/ErrKeyUsed", c.name, err)
				}

				// Our own protection of the same content, unprotected by a
				// separate receiver. Signatures may be randomized, so the
				// decoded content is compared, not bytes.
				content := decoded.Content
				var wfs []format.WireFormat
				if c.pub != nil {
					wfs = append(wfs, format.WirePublicMessage)
				}
				wfs = append(wfs, format.WirePrivateMessage)
				for _, wf := range wfs {
					got := ownRoundTrip(t, &v, wf, &content, decoded.Auth.ConfirmationTag)
					checkContent(t, fmt.Sprintf("%s own wire format %d", c.name, wf), &v, got, c.ct, c.want)
					if !bytes.Equal(got.Auth.ConfirmationTag, decoded.Auth.ConfirmationTag) {
						t.Errorf("%s own wire format %d: confirmation tag lost", c.name, wf)
					}
				}
			}
		})
	}
}

// ownRoundTrip protects content as wire format wf with this package,
// carrying confirmation tag tag, and returns what a separate receiver
// unprotects from the encoded message.
func ownRoundTrip(t *testing.T, v *protectionVector, wf format.WireFormat, content *format.FramedContent, tag []byte) *format.AuthenticatedContent {
	t.Helper()
	sender, receiver := v.newEpoch(t), v.newEpoch(t)
	own, err := sender.Sign(wf, content, v.signingKey())
	if err != nil {
		t.Fatal(err)
	}
	own.Auth.ConfirmationTag = tag
	msg := &format.MLSMessage{Version: format.MLS10, WireFormat: wf}
	if wf == format.WirePublicMessage {
		if msg.PublicMessage, err = sender.ProtectPublic(own); err != nil {
			t.Fatal(err)
		}
	} else if msg.PrivateMessage, err = sender.ProtectPrivate(own); err != nil {
		t.Fatal(err)
	}
	got, err := unprotect(t, receiver, v, codec.MustMarshal(msg), wf)
	if err != nil {
		t.Fatalf("own wire format %d: %v", wf, err)
	}
	return got
}
