package framing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// firstVector returns message-protection.json/0 (suite 1) for the
// rejection tests.
func firstVector(t testing.TB) *protectionVector {
	t.Helper()
	v := loadProtectionVectors(t)[0]
	return &v
}

func vectorPrivate(t *testing.T, b []byte) *format.PrivateMessage {
	t.Helper()
	return parseMessage(t, b, format.WirePrivateMessage).PrivateMessage
}

func vectorPublic(t *testing.T, b []byte) *format.PublicMessage {
	t.Helper()
	return parseMessage(t, b, format.WirePublicMessage).PublicMessage
}

func TestUnprotectPublicRejects(t *testing.T) {
	v := firstVector(t)
	e := v.newEpoch(t)

	pm := vectorPublic(t, v.CommitPub)
	pm.MembershipTag[0] ^= 1
	if _, err := e.UnprotectPublic(pm, v.keyOf); !errors.Is(err, ErrMembershipTag) {
		t.Errorf("flipped membership tag: %v, want ErrMembershipTag", err)
	}

	pm = vectorPublic(t, v.ProposalPub)
	pm.Auth.Signature[0] ^= 1
	pm.MembershipTag = e.Suite.MAC(e.MembershipKey, mustTBM(t, e, pm))
	if _, err := e.UnprotectPublic(pm, v.keyOf); !errors.Is(err, ErrSignature) {
		t.Errorf("flipped signature with a valid membership tag: %v, want ErrSignature", err)
	}

	pm = vectorPublic(t, v.ProposalPub)
	other := *e
	other.MembershipKey = bytes.Repeat([]byte{1}, len(e.MembershipKey))
	if _, err := other.UnprotectPublic(pm, v.keyOf); !errors.Is(err, ErrMembershipTag) {
		t.Errorf("wrong membership key: %v, want ErrMembershipTag", err)
	}

	// RFC 9420 §6: application data never travels as a PublicMessage.
	pm = vectorPublic(t, v.ProposalPub)
	pm.Content.ContentType, pm.Content.Proposal, pm.Content.Application = format.ContentApplication, nil, []byte("hi")
	if _, err := e.UnprotectPublic(pm, v.keyOf); !errors.Is(err, ErrContentType) {
		t.Errorf("application PublicMessage: %v, want ErrContentType", err)
	}
}

func mustTBM(t *testing.T, e *Epoch, pm *format.PublicMessage) []byte {
	t.Helper()
	tbm, err := pm.Authenticated().TBM(e.Context)
	if err != nil {
		t.Fatal(err)
	}
	return tbm
}

func TestUnprotectPrivateRejects(t *testing.T) {
	v := firstVector(t)

	pm := vectorPrivate(t, v.ApplicationPriv)
	pm.EncryptedSenderData[0] ^= 1
	if _, err := v.newEpoch(t).UnprotectPrivate(pm, v.keyOf); !errors.Is(err, ErrSenderData) {
		t.Errorf("corrupted sender data: %v, want ErrSenderData", err)
	}

	// The ciphertext sample keys the sender data (RFC 9420 §6.3.2), so a
	// corrupted ciphertext already fails there.
	pm = vectorPrivate(t, v.ApplicationPriv)
	pm.Ciphertext[0] ^= 1
	if _, err := v.newEpoch(t).UnprotectPrivate(pm, v.keyOf); !errors.Is(err, ErrSenderData) {
		t.Errorf("corrupted ciphertext: %v, want ErrSenderData", err)
	}

	// Authenticated data is bound by the content AAD only.
	pm = vectorPrivate(t, v.ApplicationPriv)
	pm.AuthenticatedData = append(pm.AuthenticatedData, 1)
	e := v.newEpoch(t)
	if _, err := e.UnprotectPrivate(pm, v.keyOf); !errors.Is(err, ErrDecrypt) {
		t.Errorf("changed authenticated data: %v, want ErrDecrypt", err)
	}
	// A message that failed to decrypt does not burn the genuine one's key.
	if _, err := e.UnprotectPrivate(vectorPrivate(t, v.ApplicationPriv), v.keyOf); err != nil {
		t.Errorf("genuine message after a forged one: %v", err)
	}

	wrongKey := func(*format.FramedContent) ([]byte, error) {
		_, pub, err := e.Suite.GenerateSignatureKey(bytes.NewReader(bytes.Repeat([]byte{9}, 200)))
		return pub, err
	}
	if _, err := v.newEpoch(t).UnprotectPrivate(vectorPrivate(t, v.ProposalPriv), wrongKey); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong signature key: %v, want ErrSignature", err)
	}

	pm = vectorPrivate(t, v.ProposalPriv)
	pm.ContentType = 7
	if _, err := v.newEpoch(t).UnprotectPrivate(pm, v.keyOf); !errors.Is(err, ErrContentType) {
		t.Errorf("unknown content type: %v, want ErrContentType", err)
	}

	// Too far ahead: a receiver that only tolerates a short jump.
	sender, receiver := v.newEpoch(t), v.newEpoch(t)
	tree, err := schedule.NewSecretTree(receiver.Suite, v.EncryptionSecret, vectorLeaves, schedule.Config{MaxForward: 2})
	if err != nil {
		t.Fatal(err)
	}
	receiver.Secrets = tree
	var last *format.PrivateMessage
	for range 4 {
		last = protectApplication(t, v, sender, []byte("x"))
	}
	if _, err := receiver.UnprotectPrivate(last, v.keyOf); !errors.Is(err, schedule.ErrTooFarAhead) {
		t.Errorf("generation 3 with MaxForward 2: %v, want ErrTooFarAhead", err)
	}
}

func protectApplication(t *testing.T, v *protectionVector, e *Epoch, data []byte) *format.PrivateMessage {
	t.Helper()
	content := &format.FramedContent{
		GroupID: v.GroupID, Epoch: v.Epoch, Sender: format.Sender{Type: format.SenderMember, LeafIndex: 1},
		ContentType: format.ContentApplication, Application: data,
	}
	ac, err := e.Sign(format.WirePrivateMessage, content, v.signingKey())
	if err != nil {
		t.Fatal(err)
	}
	pm, err := e.ProtectPrivate(ac)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestProtectRejects(t *testing.T) {
	v := firstVector(t)
	e := v.newEpoch(t)
	app := &format.FramedContent{
		GroupID: v.GroupID, Epoch: v.Epoch, Sender: format.Sender{Type: format.SenderMember, LeafIndex: 1},
		ContentType: format.ContentApplication, Application: []byte("hello"),
	}
	pubApp, err := e.Sign(format.WirePublicMessage, app, v.signingKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ProtectPublic(pubApp); !errors.Is(err, ErrContentType) {
		t.Errorf("application as PublicMessage: %v, want ErrContentType", err)
	}
	if _, err := e.ProtectPrivate(pubApp); !errors.Is(err, ErrWireFormat) {
		t.Errorf("public-signed content as PrivateMessage: %v, want ErrWireFormat", err)
	}
	ext := *app
	ext.Sender = format.Sender{Type: format.SenderExternal}
	ac, err := e.Sign(format.WirePrivateMessage, &ext, v.signingKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ProtectPrivate(ac); !errors.Is(err, ErrSender) {
		t.Errorf("external sender as PrivateMessage: %v, want ErrSender", err)
	}
	commit := vectorPublic(t, v.CommitPub).Authenticated()
	commit.Auth.ConfirmationTag = nil
	if _, err := e.ProtectPublic(commit); !errors.Is(err, ErrContent) {
		t.Errorf("commit without confirmation tag: %v, want ErrContent", err)
	}
}

func TestPadding(t *testing.T) {
	v := firstVector(t)
	for _, block := range []int{0, 1, 16, 100} {
		sender, receiver := v.newEpoch(t), v.newEpoch(t)
		sender.PaddingBlock = block
		pm := protectApplication(t, v, sender, []byte("hello"))
		tag := 16 // AES-GCM tag of suite 1
		if block > 1 && (len(pm.Ciphertext)-tag)%block != 0 {
			t.Errorf("block %d: content of %d bytes is not padded", block, len(pm.Ciphertext)-tag)
		}
		if _, err := receiver.UnprotectPrivate(pm, v.keyOf); err != nil {
			t.Errorf("block %d: %v", block, err)
		}
	}
	// RFC 9420 §6.3.1: non-zero padding is rejected.
	ac := &format.AuthenticatedContent{Content: format.FramedContent{ContentType: format.ContentApplication}}
	plain := codec.MustMarshal(&format.PrivateMessageContent{
		ContentType: format.ContentApplication, Application: []byte("hi"), Auth: format.FramedContentAuthData{Signature: []byte{1}}, Padding: 4,
	})
	if err := parseContent(plain, ac); err != nil {
		t.Fatalf("zero padding: %v", err)
	}
	plain[len(plain)-2] = 1
	ac = &format.AuthenticatedContent{Content: format.FramedContent{ContentType: format.ContentApplication}}
	if err := parseContent(plain, ac); !errors.Is(err, ErrPadding) {
		t.Errorf("non-zero padding: %v, want ErrPadding", err)
	}
}

// FuzzUnprotectPrivate feeds arbitrary PrivateMessages to the decoder: it
// must never panic, and whatever it accepts must have a valid signature.
func FuzzUnprotectPrivate(f *testing.F) {
	v := firstVector(f)
	f.Add(codec.MustMarshal(&format.PrivateMessage{}))
	for _, m := range [][]byte{v.ApplicationPriv, v.ProposalPriv, v.CommitPriv} {
		f.Add(m[4:]) // the PrivateMessage inside the MLSMessage
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pm format.PrivateMessage
		if codec.Unmarshal(data, &pm) != nil {
			return
		}
		_, _ = v.newEpoch(t).UnprotectPrivate(&pm, v.keyOf)
	})
}

// FuzzParseContent checks the PrivateMessageContent decoder on arbitrary
// plaintexts: no panic, and accepted input re-encodes to itself.
func FuzzParseContent(f *testing.F) {
	f.Add(uint8(1), codec.MustMarshal(&format.PrivateMessageContent{
		ContentType: format.ContentApplication, Application: []byte("hi"), Auth: format.FramedContentAuthData{Signature: []byte{1}}, Padding: 3,
	}))
	f.Fuzz(func(t *testing.T, ct uint8, plain []byte) {
		ac := &format.AuthenticatedContent{Content: format.FramedContent{ContentType: format.ContentType(ct%3 + 1)}}
		if parseContent(plain, ac) != nil {
			return
		}
		c := &ac.Content
		re, err := codec.Marshal(&format.PrivateMessageContent{
			ContentType: c.ContentType, Application: c.Application, Proposal: c.Proposal, Commit: c.Commit, Auth: ac.Auth,
		})
		if err != nil {
			t.Fatalf("accepted content does not re-encode: %v", err)
		}
		if !bytes.Equal(re, plain[:len(re)]) {
			t.Fatal("accepted content re-encodes differently")
		}
	})
}
