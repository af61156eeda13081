package format

import (
	"encoding/hex"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// fuzzSeeds adds the messages.json fields to f, each cut by skip bytes (to
// strip the MLSMessage header where the target decodes the body).
func fuzzSeeds(f *testing.F, skip int, fields ...string) {
	var vectors []map[string]string
	loadVectors(f, "messages.json", &vectors)
	for i, vec := range vectors {
		if i >= 40 {
			break
		}
		for _, field := range fields {
			b, err := hex.DecodeString(vec[field])
			if err != nil || len(b) < skip {
				f.Fatalf("messages.json/%d/%s: bad seed", i, field)
			}
			f.Add(b[skip:])
		}
	}
}

// fuzzRoundTrip asserts that decoding never panics and that whatever
// decodes re-encodes to exactly the input.
func fuzzRoundTrip(t *testing.T, data []byte, v codec.Unmarshaler) {
	if err := codec.Unmarshal(data, v); err != nil {
		return
	}
	checkReencodes(t, data, v)
}

func FuzzKeyPackage(f *testing.F) {
	fuzzSeeds(f, 4, "mls_key_package")
	fuzzSeeds(f, 0, "add_proposal")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(KeyPackage)) })
}

func FuzzMLSMessage(f *testing.F) {
	fuzzSeeds(f, 0, "mls_welcome", "mls_group_info", "mls_key_package",
		"public_message_application", "public_message_proposal", "public_message_commit", "private_message")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(MLSMessage)) })
}

func FuzzWelcome(f *testing.F) {
	fuzzSeeds(f, 4, "mls_welcome")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(Welcome)) })
}

func FuzzGroupInfo(f *testing.F) {
	fuzzSeeds(f, 4, "mls_group_info")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(GroupInfo)) })
}

func FuzzRatchetTree(f *testing.F) {
	fuzzSeeds(f, 0, "ratchet_tree")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(RatchetTree)) })
}

func FuzzCommit(f *testing.F) {
	fuzzSeeds(f, 0, "commit")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, new(Commit)) })
}

// FuzzPrivateMessageContent takes the content type from the first byte.
func FuzzPrivateMessageContent(f *testing.F) {
	f.Add([]byte{byte(ContentApplication), 0x02, 'h', 'i', 0x01, 0x07, 0, 0, 0})
	f.Add([]byte{byte(ContentCommit), 0x00, 0x00, 0x00, 0x01, 0x05})
	f.Add(append([]byte{byte(ContentProposal)}, mustHex(f, "0003"+"00000001"+"00"+"00")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fuzzRoundTrip(t, data[1:], &PrivateMessageContent{ContentType: ContentType(data[0])})
	})
}
