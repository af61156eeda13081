package format

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

func varBytes(b []byte) []byte {
	var w codec.Writer
	w.VarBytes(b)
	out, _ := w.Result()
	return out
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func decodeMessage(t *testing.T, field string) (*MLSMessage, []byte) {
	t.Helper()
	b := firstVector(t, field)
	var m MLSMessage
	if err := codec.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m, b
}

// The to-be-signed encodings of §7.2, §10 and §12.4.3 are the structure's
// encoding without its trailing signature (plus group id and leaf index for
// update/commit leaves).
func TestSignatureInputs(t *testing.T) {
	t.Run("key-package", func(t *testing.T) {
		m, b := decodeMessage(t, "mls_key_package")
		kp := m.KeyPackage
		if !bytes.Equal(cat([]byte{0, 1, 0, 5}, kp.TBS(), varBytes(kp.Signature)), b) {
			t.Fatal("KeyPackage.TBS || signature is not the encoding")
		}
		leaf := codec.MustMarshal(&kp.LeafNode)
		if kp.LeafNode.Source != LeafSourceKeyPackage {
			t.Fatalf("source %d", kp.LeafNode.Source)
		}
		tbs := kp.LeafNode.TBS([]byte("ignored"), 9)
		if !bytes.Equal(cat(tbs, varBytes(kp.LeafNode.Signature)), leaf) {
			t.Fatal("key_package LeafNodeTBS must not include group id and leaf index")
		}
		ref, err := kp.KeyPackageRefInput()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ref, cat(varBytes([]byte(KeyPackageRefLabel)), varBytes(b[4:]))) {
			t.Fatal("KeyPackageRefInput")
		}
	})
	t.Run("leaf-node/update", func(t *testing.T) {
		var u UpdateProposal
		b := firstVector(t, "update_proposal")
		if err := codec.Unmarshal(b, &u); err != nil {
			t.Fatal(err)
		}
		if u.LeafNode.Source != LeafSourceUpdate {
			t.Fatalf("source %d", u.LeafNode.Source)
		}
		body := b[:len(b)-len(varBytes(u.LeafNode.Signature))]
		want := cat(body, varBytes([]byte{0xaa, 0xbb}), []byte{0, 0, 1, 2})
		if got := u.LeafNode.TBS([]byte{0xaa, 0xbb}, 0x0102); !bytes.Equal(got, want) {
			t.Fatalf("LeafNodeTBS\n got %x\nwant %x", got, want)
		}
	})
	t.Run("group-info", func(t *testing.T) {
		m, b := decodeMessage(t, "mls_group_info")
		gi := m.GroupInfo
		if !bytes.Equal(cat([]byte{0, 1, 0, 4}, gi.TBS(), varBytes(gi.Signature)), b) {
			t.Fatal("GroupInfo.TBS || signature is not the encoding")
		}
	})
}

func TestFramingInputs(t *testing.T) {
	m, b := decodeMessage(t, "public_message_commit")
	pm := m.PublicMessage
	if pm.Content.Sender.Type != SenderMember || pm.Content.ContentType != ContentCommit {
		t.Fatalf("unexpected vector: sender %d content %d", pm.Content.Sender.Type, pm.Content.ContentType)
	}
	ac := pm.Authenticated()
	ctx := &GroupContext{Version: MLS10, CipherSuite: 1, GroupID: pm.Content.GroupID, Epoch: pm.Content.Epoch,
		TreeHash: []byte{1}, ConfirmedTranscriptHash: []byte{2}, Extensions: []Extension{}}
	content := codec.MustMarshal(&pm.Content)
	auth := cat(varBytes(pm.Auth.Signature), varBytes(pm.Auth.ConfirmationTag))
	if !bytes.Equal(cat([]byte{0, 1, 0, 1}, content, auth, varBytes(pm.MembershipTag)), b) {
		t.Fatal("PublicMessage layout")
	}

	tbs, err := ac.TBS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTBS := cat([]byte{0, 1, 0, 1}, content, codec.MustMarshal(ctx))
	if !bytes.Equal(tbs, wantTBS) {
		t.Fatal("FramedContentTBS for a member must end with the group context (RFC 9420 §6.1)")
	}
	if _, err := ac.TBS(nil); err == nil {
		t.Fatal("member TBS without group context encoded")
	}
	tbm, err := ac.TBM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbm, cat(wantTBS, auth)) {
		t.Fatal("AuthenticatedContentTBM (RFC 9420 §6.2)")
	}
	cth, err := ac.ConfirmedTranscriptHashInput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cth, cat([]byte{0, 1}, content, varBytes(pm.Auth.Signature))) {
		t.Fatal("ConfirmedTranscriptHashInput (RFC 9420 §8.2)")
	}
	ith, err := ac.InterimTranscriptHashInput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ith, varBytes(pm.Auth.ConfirmationTag)) {
		t.Fatal("InterimTranscriptHashInput (RFC 9420 §8.2)")
	}
	ref, err := ac.ProposalRefInput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref, cat(varBytes([]byte(ProposalRefLabel)), varBytes(cat([]byte{0, 1}, content, auth)))) {
		t.Fatal("ProposalRefInput (RFC 9420 §5.2)")
	}

	// A new member proposing binds no group context (RFC 9420 §6.1).
	ext := &AuthenticatedContent{WireFormat: WirePublicMessage, Content: FramedContent{
		GroupID: []byte{1}, Sender: Sender{Type: SenderNewMemberProposal}, AuthenticatedData: []byte{},
		ContentType: ContentProposal, Proposal: &Proposal{Type: ProposalRemove, Remove: &RemoveProposal{Removed: 3}},
	}}
	tbs, err = ext.TBS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbs, cat([]byte{0, 1, 0, 1}, codec.MustMarshal(&ext.Content))) {
		t.Fatal("FramedContentTBS for a new member proposal must not include the context")
	}
}

func TestPrivateMessageInputs(t *testing.T) {
	m, _ := decodeMessage(t, "private_message")
	pm := m.PrivateMessage
	aad, err := pm.ContentAAD()
	if err != nil {
		t.Fatal(err)
	}
	head := cat(varBytes(pm.GroupID), codec.MustMarshal(&Lifetime{NotBefore: pm.Epoch})[:8], []byte{byte(pm.ContentType)})
	if !bytes.Equal(aad, cat(head, varBytes(pm.AuthenticatedData))) {
		t.Fatal("PrivateContentAAD (RFC 9420 §6.3.1)")
	}
	sdAAD, err := pm.SenderDataAAD()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sdAAD, head) {
		t.Fatal("SenderDataAAD (RFC 9420 §6.3.2)")
	}
}

func TestPrivateMessageContent(t *testing.T) {
	app := &PrivateMessageContent{ContentType: ContentApplication, Application: []byte("hi"),
		Auth: FramedContentAuthData{Signature: []byte{7}}, Padding: 3}
	b, err := codec.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "026869"+"0107"+"000000")
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding %x, want %x", b, want)
	}
	got, err := ParsePrivateMessageContent(b, ContentApplication)
	if err != nil {
		t.Fatal(err)
	}
	if got.Padding != 3 || string(got.Application) != "hi" || got.Auth.ConfirmationTag != nil {
		t.Fatalf("decoded %+v", got)
	}

	// RFC 9420 §6.3.1: non-zero padding is rejected, wherever it is.
	for i := 5; i < len(b); i++ {
		bad := append([]byte{}, b...)
		bad[i] = 1
		if _, err := ParsePrivateMessageContent(bad, ContentApplication); err == nil {
			t.Fatalf("non-zero padding byte %d accepted", i)
		}
	}
	// The outer content type selects the body: a commit needs a
	// confirmation tag, so the same bytes read as commit content fail.
	if _, err := ParsePrivateMessageContent(b, ContentCommit); err == nil {
		t.Fatal("application content decoded as commit")
	}
	if _, err := ParsePrivateMessageContent(b, 0); !errors.Is(err, codec.ErrInvalidEnum) {
		t.Fatalf("content type 0: %v", err)
	}

	commit := &PrivateMessageContent{ContentType: ContentCommit, Commit: &Commit{Proposals: []ProposalOrRef{
		{Type: ProposalOrRefReference, Reference: []byte{1, 2}},
	}}, Auth: FramedContentAuthData{Signature: []byte{}, ConfirmationTag: []byte{5}}}
	b, err = codec.Marshal(commit)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, mustHex(t, "04"+"02"+"020102"+"00"+"00"+"0105")) {
		t.Fatalf("commit content %x", b)
	}
	got, err = ParsePrivateMessageContent(b, ContentCommit)
	if err != nil || got.Padding != 0 || !bytes.Equal(got.Auth.ConfirmationTag, []byte{5}) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
