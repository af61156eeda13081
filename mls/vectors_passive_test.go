package mls

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

type passiveVector struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID hexBytes `json:"psk_id"`
		PSK   hexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                hexBytes `json:"key_package"`
	SignaturePriv             hexBytes `json:"signature_priv"`
	EncryptionPriv            hexBytes `json:"encryption_priv"`
	InitPriv                  hexBytes `json:"init_priv"`
	Welcome                   hexBytes `json:"welcome"`
	RatchetTree               hexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator hexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []hexBytes `json:"proposals"`
		Commit             hexBytes   `json:"commit"`
		EpochAuthenticator hexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

func runPassive(t *testing.T, v *passiveVector) {
	psks := map[string][]byte{}
	for _, p := range v.ExternalPSKs {
		psks[string(p.PSKID)] = p.PSK
	}
	cfg := Config{CipherSuite: CipherSuite(v.CipherSuite), PSKs: func(id []byte) ([]byte, bool) {
		p, ok := psks[string(id)]
		return p, ok
	}}
	kp, err := parseKeyPackage(v.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	id, err := IdentityFromKey(CipherSuite(v.CipherSuite), v.SignaturePriv, kp.LeafNode.Credential.Identity)
	if err != nil {
		t.Fatal(err)
	}
	// The private keys correspond to the KeyPackage's public keys.
	if !bytes.Equal(id.SignaturePublicKey, kp.LeafNode.SignatureKey) {
		t.Fatal("signature_priv does not match the key package")
	}
	bundle := &KeyPackageBundle{Message: v.KeyPackage, InitPrivateKey: v.InitPriv, EncryptionPrivateKey: v.EncryptionPriv}
	g, err := JoinFromWelcome(cfg, id, bundle, v.Welcome, JoinOptions{RatchetTree: v.RatchetTree})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), v.InitialEpochAuthenticator) {
		t.Fatal("initial epoch authenticator mismatch")
	}
	for i, ep := range v.Epochs {
		for j, p := range ep.Proposals {
			if _, err := g.Process(p); err != nil {
				t.Fatalf("epoch %d proposal %d: %v", i, j, err)
			}
		}
		if _, err := g.Process(ep.Commit); err != nil {
			t.Fatalf("epoch %d commit: %v", i, err)
		}
		if !bytes.Equal(g.EpochAuthenticator(), ep.EpochAuthenticator) {
			t.Fatalf("epoch %d: epoch authenticator mismatch", i)
		}
	}
}

func testPassiveFile(t *testing.T, file string) {
	vectors.Each(t, file, func(t *testing.T, v passiveVector) { runPassive(t, &v) })
}

func TestPassiveClientWelcome(t *testing.T) { testPassiveFile(t, "passive-client-welcome.json") }

func TestPassiveClientHandlingCommit(t *testing.T) {
	testPassiveFile(t, "passive-client-handling-commit.json")
}

func TestPassiveClientRandom(t *testing.T) { testPassiveFile(t, "passive-client-random.json") }
