package suite

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"
)

// The X-Wing KEM of the default suite (crypto/hpke.MLKEM768X25519) against
// the published vectors of draft-connolly-cfrg-xwing-kem (testdata/README.md
// says where they come from), and proof that its keys depend on the ML-KEM
// shared secret (docs/spec/mls-suites.md, "How the post-quantum property is
// tested").

type xwingVector struct {
	Seed  hexBytes `json:"seed"`
	SK    hexBytes `json:"sk"`
	PK    hexBytes `json:"pk"`
	ESeed hexBytes `json:"eseed"`
	CT    hexBytes `json:"ct"`
	SS    hexBytes `json:"ss"`
}

func loadXWingVectors(t *testing.T) []xwingVector {
	t.Helper()
	b, err := os.ReadFile("testdata/xwing-test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []xwingVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no X-Wing vectors")
	}
	return vs
}

// xwingLabel is XWingLabel of the draft, the bytes 5c2e2f2f5e5c.
const xwingLabel = `\./` + `/^\`

// xwingParts is the draft's Decapsulate written out from its parts
// (draft-connolly-cfrg-xwing-kem §5.3-§5.5), with crypto/mlkem and
// crypto/ecdh: expandDecapsulationKey, ML-KEM-768 and X25519 decapsulation.
type xwingParts struct {
	pkM, pkX, ctM, ctX, ssM, ssX []byte
}

func decapsulateParts(t *testing.T, sk, ct []byte) xwingParts {
	t.Helper()
	expanded := sha3.SumSHAKE256(sk, 96)
	dk, err := mlkem.NewDecapsulationKey768(expanded[:64])
	if err != nil {
		t.Fatal(err)
	}
	skX, err := ecdh.X25519().NewPrivateKey(expanded[64:96])
	if err != nil {
		t.Fatal(err)
	}
	p := xwingParts{pkM: dk.EncapsulationKey().Bytes(), pkX: skX.PublicKey().Bytes(), ctM: ct[:1088], ctX: ct[1088:]}
	if p.ssM, err = dk.Decapsulate(p.ctM); err != nil {
		t.Fatal(err)
	}
	ctX, err := ecdh.X25519().NewPublicKey(p.ctX)
	if err != nil {
		t.Fatal(err)
	}
	if p.ssX, err = skX.ECDH(ctX); err != nil {
		t.Fatal(err)
	}
	return p
}

// combine is the draft's Combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X ||
// XWingLabel).
func combine(ssM, ssX, ctX, pkX []byte) []byte {
	h := sha3.New256()
	for _, b := range [][]byte{ssM, ssX, ctX, pkX, []byte(xwingLabel)} {
		h.Write(b)
	}
	return h.Sum(nil)
}

// hpkeExport is RFC 9180's key schedule in mode_base with HKDF-SHA256 and
// AES-128-GCM (§5.1, §5.3) from a KEM shared secret: the exporter secret,
// then Export(exporterContext, length). It lets the test tie the output of
// crypto/hpke, which never reveals the KEM shared secret, to a published ss.
func hpkeExport(t *testing.T, kemID uint16, ss, info, exporterContext []byte, length int) []byte {
	t.Helper()
	suiteID := []byte("HPKE")
	suiteID = binary.BigEndian.AppendUint16(suiteID, kemID)
	suiteID = binary.BigEndian.AppendUint16(suiteID, 0x0001) // HKDF-SHA256
	suiteID = binary.BigEndian.AppendUint16(suiteID, 0x0001) // AES-128-GCM
	extract := func(salt []byte, label string, ikm []byte) []byte {
		in := append(append(append([]byte("HPKE-v1"), suiteID...), label...), ikm...)
		prk, err := hkdf.Extract(sha256.New, in, salt)
		if err != nil {
			t.Fatal(err)
		}
		return prk
	}
	expand := func(prk []byte, label string, info []byte, l int) []byte {
		in := binary.BigEndian.AppendUint16(nil, uint16(l))
		in = append(append(append(append(in, "HPKE-v1"...), suiteID...), label...), info...)
		out, err := hkdf.Expand(sha256.New, prk, string(in), l)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ctx := append([]byte{0}, extract(nil, "psk_id_hash", nil)...)
	ctx = append(ctx, extract(nil, "info_hash", info)...)
	secret := extract(ss, "secret", nil) // RFC 9180 §5.1: the shared secret is the salt
	exporter := expand(secret, "exp", ctx, sha256.Size)
	return expand(exporter, "sec", exporterContext, length)
}

func TestXWingKnownAnswer(t *testing.T) {
	s, err := Get(Default)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range loadXWingVectors(t) {
		// Key generation: the stored private key is the 32-byte seed.
		k, err := hpke.MLKEM768X25519().NewPrivateKey(v.SK)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if !bytes.Equal(k.PublicKey().Bytes(), v.PK) {
			t.Fatalf("vector %d: public key differs from the vector's", i)
		}
		pub, err := s.kem.publicKey(v.SK)
		if err != nil || !bytes.Equal(pub, v.PK) {
			t.Fatalf("vector %d: the default suite derives another public key: %v", i, err)
		}
		// Decapsulation from the parts reproduces the published ss.
		p := decapsulateParts(t, v.SK, v.CT)
		if !bytes.Equal(append(append([]byte{}, p.pkM...), p.pkX...), v.PK) {
			t.Fatalf("vector %d: expanded key differs", i)
		}
		if !bytes.Equal(combine(p.ssM, p.ssX, p.ctX, p.pkX), v.SS) {
			t.Fatalf("vector %d: combiner output differs from the published ss", i)
		}
		// The default suite's own decapsulation (crypto/hpke, through the
		// external-init exporter of RFC 9420 §8.3) uses the published ss.
		got, err := s.ExternalInitReceive(v.SK, v.CT)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		want := hpkeExport(t, 0x647a, v.SS, nil, []byte(externalInitLabel), s.HashLen())
		if !bytes.Equal(got, want) {
			t.Fatalf("vector %d: the default suite's HPKE secret is not derived from the published ss", i)
		}
	}
}

// TestXWingKeyDependsOnMLKEM fails if the X-Wing combiner ignores the
// ML-KEM shared secret: leaving it out of the combiner does not give the
// published key, and changing only the ML-KEM ciphertext (so that ML-KEM
// decapsulates to another secret by implicit rejection) changes the
// default suite's derived secret while the X25519 part is the same.
func TestXWingKeyDependsOnMLKEM(t *testing.T) {
	s, err := Get(Default)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range loadXWingVectors(t) {
		p := decapsulateParts(t, v.SK, v.CT)
		if bytes.Equal(combine(nil, p.ssX, p.ctX, p.pkX), v.SS) || bytes.Equal(combine(make([]byte, 32), p.ssX, p.ctX, p.pkX), v.SS) {
			t.Fatalf("vector %d: the key is reproduced without the ML-KEM shared secret", i)
		}
		genuine, err := s.ExternalInitReceive(v.SK, v.CT)
		if err != nil {
			t.Fatal(err)
		}
		tampered := bytes.Clone(v.CT)
		tampered[0] ^= 1 // inside ct_M; ct_X (the last 32 bytes) is unchanged
		q := decapsulateParts(t, v.SK, tampered)
		if !bytes.Equal(q.ssX, p.ssX) || bytes.Equal(q.ssM, p.ssM) {
			t.Fatalf("vector %d: the tamper did not isolate ML-KEM", i)
		}
		other, err := s.ExternalInitReceive(v.SK, tampered)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(other, genuine) {
			t.Fatalf("vector %d: the default suite's secret does not depend on the ML-KEM shared secret", i)
		}
		if want := hpkeExport(t, 0x647a, combine(q.ssM, q.ssX, q.ctX, q.pkX), nil, []byte(externalInitLabel), s.HashLen()); !bytes.Equal(other, want) {
			t.Fatalf("vector %d: tampered ciphertext: secret not derived from the combiner", i)
		}
	}
}
