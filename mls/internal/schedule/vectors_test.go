package schedule

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

// hexBytes decodes a hex string from the vectors.
type hexBytes = vectors.Hex

func getSuite(t *testing.T, id uint16) *suite.Suite {
	t.Helper()
	s, err := suite.Get(suite.ID(id))
	if err != nil {
		t.Fatalf("cipher suite %d: %v", id, err)
	}
	return s
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", what, got, want)
	}
}

// keyScheduleVector is one vector of key-schedule.json: a group's epochs
// with every secret the key schedule derives in each.
type keyScheduleVector struct {
	CipherSuite       uint16   `json:"cipher_suite"`
	GroupID           hexBytes `json:"group_id"`
	InitialInitSecret hexBytes `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`
		JoinerSecret            hexBytes `json:"joiner_secret"`
		WelcomeSecret           hexBytes `json:"welcome_secret"`
		InitSecret              hexBytes `json:"init_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		ExporterSecret          hexBytes `json:"exporter_secret"`
		EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
		ExternalSecret          hexBytes `json:"external_secret"`
		ConfirmationKey         hexBytes `json:"confirmation_key"`
		MembershipKey           hexBytes `json:"membership_key"`
		ResumptionPSK           hexBytes `json:"resumption_psk"`
		ExternalPub             hexBytes `json:"external_pub"`
		Exporter                struct {
			// The vectors use the hex text itself as the label
			// string (every implementation computes it that way).
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Secret  hexBytes `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

func TestKeyScheduleVectors(t *testing.T) {
	vectors.Each(t, "key-schedule.json", func(t *testing.T, v keyScheduleVector) {
		s := getSuite(t, v.CipherSuite)
		initSecret := []byte(v.InitialInitSecret)
		for n, ep := range v.Epochs {
			gc := &format.GroupContext{
				Version: format.MLS10, CipherSuite: format.CipherSuite(v.CipherSuite),
				GroupID: v.GroupID, Epoch: uint64(n), TreeHash: ep.TreeHash,
				ConfirmedTranscriptHash: ep.ConfirmedTranscriptHash, Extensions: []format.Extension{},
			}
			gcBytes, err := codec.Marshal(gc)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, fmt.Sprintf("epoch %d group_context", n), gcBytes, ep.GroupContext)
			e, err := New(s, initSecret, ep.CommitSecret, ep.PSKSecret, gcBytes)
			if err != nil {
				t.Fatalf("epoch %d: %v", n, err)
			}
			for _, c := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner_secret", e.JoinerSecret, ep.JoinerSecret},
				{"welcome_secret", e.WelcomeSecret, ep.WelcomeSecret},
				{"init_secret", e.InitSecret, ep.InitSecret},
				{"sender_data_secret", e.SenderDataSecret, ep.SenderDataSecret},
				{"encryption_secret", e.EncryptionSecret, ep.EncryptionSecret},
				{"exporter_secret", e.ExporterSecret, ep.ExporterSecret},
				{"epoch_authenticator", e.EpochAuthenticator, ep.EpochAuthenticator},
				{"external_secret", e.ExternalSecret, ep.ExternalSecret},
				{"confirmation_key", e.ConfirmationKey, ep.ConfirmationKey},
				{"membership_key", e.MembershipKey, ep.MembershipKey},
				{"resumption_psk", e.ResumptionPSK, ep.ResumptionPSK},
			} {
				eq(t, fmt.Sprintf("epoch %d %s", n, c.name), c.got, c.want)
			}
			// The Welcome path: a joiner starting from joiner_secret
			// reaches the same epoch (RFC 9420 §8, §12.4.3.1).
			joined, err := FromJoiner(s, append([]byte(nil), ep.JoinerSecret...), ep.PSKSecret, gcBytes)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, fmt.Sprintf("epoch %d joined epoch_secret", n), joined.EpochSecret, e.EpochSecret)
			eq(t, fmt.Sprintf("epoch %d joined welcome_secret", n), joined.WelcomeSecret, ep.WelcomeSecret)
			ws, err := WelcomeSecret(s, ep.JoinerSecret, ep.PSKSecret)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, fmt.Sprintf("epoch %d WelcomeSecret", n), ws, ep.WelcomeSecret)
			_, pub, err := e.ExternalKeyPair()
			if err != nil {
				t.Fatalf("epoch %d: %v", n, err)
			}
			eq(t, fmt.Sprintf("epoch %d external_pub", n), pub, ep.ExternalPub)
			exported, err := e.Export(ep.Exporter.Label, ep.Exporter.Context, ep.Exporter.Length)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, fmt.Sprintf("epoch %d exporter", n), exported, ep.Exporter.Secret)
			initSecret = e.InitSecret
		}
	})
}

func TestPSKSecretVectors(t *testing.T) {
	type vector struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			PSKID    hexBytes `json:"psk_id"`
			PSK      hexBytes `json:"psk"`
			PSKNonce hexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hexBytes `json:"psk_secret"`
	}
	vectors.Each(t, "psk_secret.json", func(t *testing.T, v vector) {
		s := getSuite(t, v.CipherSuite)
		var psks []PSK
		for _, p := range v.PSKs {
			psks = append(psks, PSK{
				ID:    format.PreSharedKeyID{PSKType: format.PSKExternal, PSKID: p.PSKID, Nonce: p.PSKNonce},
				Value: p.PSK,
			})
		}
		got, err := PSKSecret(s, psks)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "psk_secret", got, v.PSKSecret)
	})
}

func TestTranscriptHashVectors(t *testing.T) {
	type vector struct {
		CipherSuite                  uint16   `json:"cipher_suite"`
		ConfirmationKey              hexBytes `json:"confirmation_key"`
		AuthenticatedContent         hexBytes `json:"authenticated_content"`
		InterimTranscriptHashBefore  hexBytes `json:"interim_transcript_hash_before"`
		ConfirmedTranscriptHashAfter hexBytes `json:"confirmed_transcript_hash_after"`
		InterimTranscriptHashAfter   hexBytes `json:"interim_transcript_hash_after"`
	}
	vectors.Each(t, "transcript-hashes.json", func(t *testing.T, v vector) {
		s := getSuite(t, v.CipherSuite)
		var ac format.AuthenticatedContent
		if err := codec.Unmarshal(v.AuthenticatedContent, &ac); err != nil {
			t.Fatalf("parsing authenticated_content: %v", err)
		}
		confirmed, err := ConfirmedTranscriptHash(s, v.InterimTranscriptHashBefore, &ac)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "confirmed_transcript_hash_after", confirmed, v.ConfirmedTranscriptHashAfter)
		if err := VerifyConfirmationTag(s, v.ConfirmationKey, confirmed, ac.Auth.ConfirmationTag); err != nil {
			t.Errorf("confirmation tag: %v", err)
		}
		eq(t, "confirmation tag", ConfirmationTag(s, v.ConfirmationKey, confirmed), ac.Auth.ConfirmationTag)
		interim, err := InterimTranscriptHash(s, confirmed, ac.Auth.ConfirmationTag)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "interim_transcript_hash_after", interim, v.InterimTranscriptHashAfter)
		// A flipped tag byte must not verify.
		bad := append([]byte(nil), ac.Auth.ConfirmationTag...)
		bad[0] ^= 1
		if err := VerifyConfirmationTag(s, v.ConfirmationKey, confirmed, bad); err == nil {
			t.Error("corrupted confirmation tag verified")
		}
	})
}

func TestSecretTreeVectors(t *testing.T) {
	type vector struct {
		CipherSuite uint16 `json:"cipher_suite"`
		SenderData  struct {
			SenderDataSecret hexBytes `json:"sender_data_secret"`
			Ciphertext       hexBytes `json:"ciphertext"`
			Key              hexBytes `json:"key"`
			Nonce            hexBytes `json:"nonce"`
		} `json:"sender_data"`
		EncryptionSecret hexBytes `json:"encryption_secret"`
		Leaves           [][]struct {
			Generation       uint32   `json:"generation"`
			HandshakeKey     hexBytes `json:"handshake_key"`
			HandshakeNonce   hexBytes `json:"handshake_nonce"`
			ApplicationKey   hexBytes `json:"application_key"`
			ApplicationNonce hexBytes `json:"application_nonce"`
		} `json:"leaves"`
	}
	vectors.Each(t, "secret-tree.json", func(t *testing.T, v vector) {
		s := getSuite(t, v.CipherSuite)
		key, nonce := SenderDataKeyNonce(s, v.SenderData.SenderDataSecret, v.SenderData.Ciphertext)
		eq(t, "sender_data key", key, v.SenderData.Key)
		eq(t, "sender_data nonce", nonce, v.SenderData.Nonce)

		tree, err := NewSecretTree(s, v.EncryptionSecret, uint32(len(v.Leaves)), Config{})
		if err != nil {
			t.Fatal(err)
		}
		// A second tree is persisted and restored after every step, so
		// the state encoding is exercised on real derivations.
		restored, err := NewSecretTree(s, v.EncryptionSecret, uint32(len(v.Leaves)), Config{})
		if err != nil {
			t.Fatal(err)
		}
		for leaf, gens := range v.Leaves {
			for _, g := range gens {
				for _, c := range []struct {
					rt                 RatchetType
					wantKey, wantNonce []byte
					name               string
				}{
					{Handshake, g.HandshakeKey, g.HandshakeNonce, "handshake"},
					{Application, g.ApplicationKey, g.ApplicationNonce, "application"},
				} {
					what := fmt.Sprintf("leaf %d generation %d %s", leaf, g.Generation, c.name)
					kn, err := tree.Key(uint32(leaf), c.rt, g.Generation)
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					eq(t, what+" key", kn.Key, c.wantKey)
					eq(t, what+" nonce", kn.Nonce, c.wantNonce)
					tree.Consume(uint32(leaf), c.rt, g.Generation)
					// RFC 9420 §9.2: a consumed key is never returned again.
					if _, err := tree.Key(uint32(leaf), c.rt, g.Generation); err == nil {
						t.Errorf("%s: key returned twice", what)
					}

					kn2, err := restored.Key(uint32(leaf), c.rt, g.Generation)
					if err != nil {
						t.Fatalf("%s (restored): %v", what, err)
					}
					eq(t, what+" key (restored)", kn2.Key, c.wantKey)
					restored.Consume(uint32(leaf), c.rt, g.Generation)
					state, err := restored.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					if restored, err = ParseSecretTree(state); err != nil {
						t.Fatalf("%s: restoring state: %v", what, err)
					}
					again, err := restored.Bytes()
					if err != nil || !bytes.Equal(again, state) {
						t.Fatalf("%s: state does not round-trip (%v)", what, err)
					}
				}
			}
		}
	})
}
