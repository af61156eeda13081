package mls

import (
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

// hexBytes decodes hex strings in the JSON vectors.
type hexBytes = vectors.Hex

type welcomeVector struct {
	CipherSuite uint16   `json:"cipher_suite"`
	InitPriv    hexBytes `json:"init_priv"`
	KeyPackage  hexBytes `json:"key_package"`
	SignerPub   hexBytes `json:"signer_pub"`
	Welcome     hexBytes `json:"welcome"`
}

// TestWelcomeVectors: decrypt each Welcome with init_priv, verify the
// GroupInfo signature with signer_pub and its confirmation tag.
func TestWelcomeVectors(t *testing.T) {
	vectors.Each(t, "welcome.json", func(t *testing.T, v welcomeVector) {
		s, err := getSuite(CipherSuite(v.CipherSuite))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := parseKeyPackage(v.KeyPackage)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := keyPackageRef(s, kp)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseMessage(v.Welcome, format.WireWelcome)
		if err != nil {
			t.Fatal(err)
		}
		ow, err := openWelcome(s, m.Welcome, ref, v.InitPriv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyGroupInfoSignature(s, ow.groupInfo, v.SignerPub); err != nil {
			t.Fatal(err)
		}
		// A wrong signer key must fail.
		if err := verifyGroupInfoSignature(s, ow.groupInfo, kp.LeafNode.SignatureKey); err == nil {
			t.Fatal("group info verified with the wrong key")
		}
	})
}
