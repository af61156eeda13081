package format

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstVector returns field of messages.json object 0.
func firstVector(t testing.TB, field string) []byte {
	t.Helper()
	var vectors []map[string]string
	loadVectors(t, "messages.json", &vectors)
	return mustHex(t, vectors[0][field])
}

func TestRejections(t *testing.T) {
	commit := firstVector(t, "commit")
	keyPackage := firstVector(t, "mls_key_package")
	tests := []struct {
		name    string
		input   []byte
		decoder codec.Unmarshaler
		wantErr error // nil: any error
	}{
		{"commit/optional-marker-2", []byte{0x00, 0x02}, new(Commit), codec.ErrBadBool},
		{"commit/optional-marker-ff", []byte{0x00, 0xff}, new(Commit), codec.ErrBadBool},
		{"group-secrets/optional-marker-2", []byte{0x00, 0x02, 0x00, 0x00}, new(GroupSecrets), codec.ErrBadBool},
		{"ratchet-tree/optional-marker-2", []byte{0x01, 0x02}, new(RatchetTree), codec.ErrBadBool},
		{"commit/trailing", append(append([]byte{}, commit...), 0), new(Commit), codec.ErrTrailing},
		{"key-package/trailing", append(append([]byte{}, keyPackage...), 0), new(MLSMessage), codec.ErrTrailing},
		{"commit/empty", nil, new(Commit), codec.ErrShort},
		{"proposal/unknown-type-8", []byte{0x00, 0x08, 0x00}, new(Proposal), codec.ErrInvalidEnum},
		{"proposal/type-0", []byte{0x00, 0x00, 0x00}, new(Proposal), codec.ErrInvalidEnum},
		{"proposal/grease-0a0a", []byte{0x0a, 0x0a, 0x00}, new(Proposal), codec.ErrInvalidEnum},
		{"proposal-or-ref/type-3", []byte{0x03, 0x00}, new(ProposalOrRef), codec.ErrInvalidEnum},
		{"credential/unknown-type", []byte{0x00, 0x03, 0x00}, new(Credential), codec.ErrInvalidEnum},
		{"sender/type-0", []byte{0x00, 0, 0, 0, 0}, new(Sender), codec.ErrInvalidEnum},
		{"sender/type-5", []byte{0x05, 0, 0, 0, 0}, new(Sender), codec.ErrInvalidEnum},
		{"node/type-3", []byte{0x03, 0x00}, new(Node), codec.ErrInvalidEnum},
		{"psk-id/type-3", []byte{0x03, 0x00, 0x00}, new(PreSharedKeyID), codec.ErrInvalidEnum},
		{"mls-message/wire-format-0", []byte{0x00, 0x01, 0x00, 0x00}, new(MLSMessage), codec.ErrInvalidEnum},
		{"mls-message/wire-format-6", []byte{0x00, 0x01, 0x00, 0x06}, new(MLSMessage), codec.ErrInvalidEnum},
		// group_id, epoch, sender member 0, authenticated_data, content type 0
		{"framed-content/content-type-0", mustHex(t, "00"+"0000000000000000"+"0100000000"+"00"+"00"+"00"), new(FramedContent), codec.ErrInvalidEnum},
		{"framed-content/content-type-4", mustHex(t, "00"+"0000000000000000"+"0100000000"+"00"+"04"+"00"), new(FramedContent), codec.ErrInvalidEnum},
		{"varint/non-minimal", []byte{0x40, 0x01, 0x00}, new(ExternalInitProposal), codec.ErrNonMinimal},
		{"varint/reserved-prefix", []byte{0xc0, 0, 0, 0, 0, 0, 0, 0}, new(ExternalInitProposal), codec.ErrVarint},
		{"vector/length-past-end", []byte{0x05, 0x00}, new(ExternalInitProposal), codec.ErrShort},
		// A capabilities list whose body is an odd number of bytes.
		{"capabilities/odd-uint16-vector", []byte{0x01, 0x00, 0x00, 0x00, 0x00, 0x00}, new(Capabilities), codec.ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := codec.Unmarshal(tt.input, tt.decoder)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// Every strict prefix of a valid encoding must fail to decode.
func TestTruncationRejected(t *testing.T) {
	for _, field := range []string{"mls_welcome", "mls_group_info", "mls_key_package", "public_message_commit", "private_message"} {
		full := firstVector(t, field)
		for n := 0; n < len(full); n++ {
			if err := codec.Unmarshal(full[:n], new(MLSMessage)); err == nil {
				t.Fatalf("%s truncated to %d of %d bytes decoded", field, n, len(full))
			}
		}
	}
	full := firstVector(t, "ratchet_tree")
	for n := 0; n < len(full); n++ {
		if err := codec.Unmarshal(full[:n], new(RatchetTree)); err == nil {
			t.Fatalf("ratchet_tree truncated to %d of %d bytes decoded", n, len(full))
		}
	}
}

func roundTrip(t *testing.T, in codec.Marshaler, out codec.Unmarshaler, want []byte) {
	t.Helper()
	got, err := codec.Marshal(in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if want != nil && !bytes.Equal(got, want) {
		t.Fatalf("encoding %x, want %x", got, want)
	}
	if err := codec.Unmarshal(got, out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	checkReencodes(t, got, out)
}

// checkReencodes checks that v, decoded from data, encodes back to
// exactly data.
func checkReencodes(t *testing.T, data []byte, v codec.Unmarshaler) {
	t.Helper()
	again, err := codec.Marshal(v.(codec.Marshaler))
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, data)
	}
}

func TestRoundTrips(t *testing.T) {
	t.Run("sender/member", func(t *testing.T) {
		roundTrip(t, &Sender{Type: SenderMember, LeafIndex: 7}, new(Sender), mustHex(t, "0100000007"))
	})
	t.Run("sender/external", func(t *testing.T) {
		roundTrip(t, &Sender{Type: SenderExternal, SenderIndex: 2}, new(Sender), mustHex(t, "0200000002"))
	})
	t.Run("sender/new-member-commit", func(t *testing.T) {
		roundTrip(t, &Sender{Type: SenderNewMemberCommit}, new(Sender), mustHex(t, "04"))
	})
	t.Run("psk-id/resumption", func(t *testing.T) {
		id := &PreSharedKeyID{PSKType: PSKResumption, Usage: ResumptionBranch, PSKGroupID: []byte{0xaa}, PSKEpoch: 5, Nonce: []byte{1, 2}}
		roundTrip(t, id, new(PreSharedKeyID), mustHex(t, "02"+"03"+"01aa"+"0000000000000005"+"020102"))
	})
	t.Run("psk-label", func(t *testing.T) {
		l := &PSKLabel{ID: PreSharedKeyID{PSKType: PSKExternal, PSKID: []byte{9}, Nonce: []byte{}}, Index: 1, Count: 2}
		roundTrip(t, l, new(PSKLabel), mustHex(t, "01"+"0109"+"00"+"0001"+"0002"))
	})
	t.Run("credential/x509", func(t *testing.T) {
		c := &Credential{Type: CredentialX509, Certificates: [][]byte{{1}, {2, 3}}}
		roundTrip(t, c, new(Credential), mustHex(t, "0002"+"05"+"0101"+"020203"))
	})
	t.Run("group-secrets/empty-path-secret", func(t *testing.T) {
		g := &GroupSecrets{JoinerSecret: []byte{1}, PathSecret: []byte{}}
		var out GroupSecrets
		roundTrip(t, g, &out, mustHex(t, "0101"+"01"+"00"+"00"))
		if out.PathSecret == nil {
			t.Fatal("present empty path secret decoded as absent")
		}
	})
	t.Run("ratchet-tree/blanks", func(t *testing.T) {
		tree := RatchetTree{nil, {Parent: &ParentNode{EncryptionKey: []byte{1}, ParentHash: []byte{}, UnmergedLeaves: []uint32{3}}}, nil}
		var out RatchetTree
		roundTrip(t, &tree, &out, mustHex(t, "0c"+"00"+"01"+"02"+"0101"+"00"+"0400000003"+"00"))
		if len(out) != 3 || out[0] != nil || out[2] != nil || out[1].Parent == nil {
			t.Fatalf("decoded tree %+v", out)
		}
	})
	t.Run("extensions/payloads", func(t *testing.T) {
		roundTrip(t, &ExternalPub{PublicKey: []byte{1, 2}}, new(ExternalPub), mustHex(t, "020102"))
		roundTrip(t, &ApplicationID{ID: []byte{7}}, new(ApplicationID), mustHex(t, "0107"))
		rc := &RequiredCapabilities{Extensions: []ExtensionType{ExtLastResort}, Proposals: []ProposalType{}, Credentials: []CredentialType{CredentialBasic}}
		roundTrip(t, rc, new(RequiredCapabilities), mustHex(t, "02000a"+"00"+"020001"))
		es := &ExternalSenders{{SignatureKey: []byte{5}, Credential: Credential{Type: CredentialBasic, Identity: []byte{6}}}}
		roundTrip(t, es, new(ExternalSenders), mustHex(t, "06"+"0105"+"0001"+"0106"))
	})
	t.Run("sender-data", func(t *testing.T) {
		sd := &SenderData{LeafIndex: 1, Generation: 2, ReuseGuard: [4]byte{9, 8, 7, 6}}
		roundTrip(t, sd, new(SenderData), mustHex(t, "00000001"+"00000002"+"09080706"))
	})
}

func TestExtensionHelpers(t *testing.T) {
	exts := []Extension{{Type: ExtApplicationID, Data: []byte{1}}, {Type: 0x0a0a, Data: nil}}
	if e := FindExtension(exts, 0x0a0a); e == nil || e != &exts[1] {
		t.Fatal("FindExtension missed the GREASE extension")
	}
	if FindExtension(exts, ExtRatchetTree) != nil {
		t.Fatal("FindExtension found an absent type")
	}
	if HasDuplicateExtensions(exts) {
		t.Fatal("distinct types reported as duplicate")
	}
	if !HasDuplicateExtensions(append(exts, Extension{Type: ExtApplicationID})) {
		t.Fatal("duplicate not reported")
	}
}

func TestEncoderRejectsInconsistentValues(t *testing.T) {
	tests := []struct {
		name string
		m    codec.Marshaler
	}{
		{"node/both", &Node{Leaf: &LeafNode{}, Parent: &ParentNode{}}},
		{"node/neither", &Node{}},
		{"proposal/missing-body", &Proposal{Type: ProposalAdd}},
		{"proposal/unknown", &Proposal{Type: 99, Add: &AddProposal{}}},
		{"mls-message/missing-body", &MLSMessage{Version: MLS10, WireFormat: WireWelcome}},
		{"framed-content/content-type-0", &FramedContent{Sender: Sender{Type: SenderMember}}},
		{"public-message/tag-on-proposal", &PublicMessage{
			Content: FramedContent{Sender: Sender{Type: SenderMember}, ContentType: ContentApplication},
			Auth:    FramedContentAuthData{ConfirmationTag: []byte{1}},
		}},
		{"tbs/member-without-context", &FramedContentTBS{Content: &FramedContent{Sender: Sender{Type: SenderMember}, ContentType: ContentApplication}}},
		{"private-content/negative-padding", &PrivateMessageContent{ContentType: ContentApplication, Padding: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := codec.Marshal(tt.m); err == nil {
				t.Fatalf("encoded as %x", b)
			}
		})
	}
}
