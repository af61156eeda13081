package mls

import (
	"bytes"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// parseMessage decodes an MLSMessage and checks its version (RFC 9420 §6).
func parseMessage(b []byte, want format.WireFormat) (*format.MLSMessage, error) {
	var m format.MLSMessage
	if err := codec.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("mls: parsing message: %w: %w", ErrMalformed, err)
	}
	// RFC 9420 §6: version is mls10.
	if m.Version != format.MLS10 {
		return nil, invalidErr("6", "unsupported protocol version", ErrUnsupported)
	}
	if want != 0 && m.WireFormat != want {
		return nil, invalidErr("6", fmt.Sprintf("wire format %d, want %d", m.WireFormat, want), ErrMalformed)
	}
	return &m, nil
}

// openedWelcome is a Welcome decrypted with our KeyPackage's init key.
type openedWelcome struct {
	secrets   *format.GroupSecrets
	psks      []schedule.PSK
	groupInfo *format.GroupInfo
	epoch     *schedule.Epoch // key schedule of the joined epoch
}

// openWelcome decrypts a Welcome for the KeyPackage with reference kpRef
// and init private key initPriv, resolves its PSKs, decrypts the GroupInfo
// and runs the key schedule (RFC 9420 §12.4.3.1). resolvePSK resolves
// PSKs; it does not verify the GroupInfo signature.
func openWelcome(s *suite.Suite, w *format.Welcome, kpRef, initPriv []byte, resolvePSK func(*format.PreSharedKeyID) ([]byte, error)) (*openedWelcome, error) {
	// RFC 9420 §12.4.3.1: the Welcome's cipher suite is the KeyPackage's.
	if uint16(w.CipherSuite) != uint16(s.ID()) {
		return nil, invalid("12.4.3.1", "welcome cipher suite does not match the key package")
	}
	// RFC 9420 §12.4.3.1: find the EncryptedGroupSecrets for our KeyPackage.
	var egs *format.EncryptedGroupSecrets
	for i := range w.Secrets {
		if bytes.Equal(w.Secrets[i].NewMember, kpRef) {
			egs = &w.Secrets[i]
			break
		}
	}
	if egs == nil {
		return nil, ErrNotForUs
	}
	// RFC 9420 §12.4.3.1: decrypt with DecryptWithLabel(init_key_priv,
	// "Welcome", encrypted_group_info, kem_output, ciphertext).
	pt, err := s.DecryptWithLabel(initPriv, "Welcome", w.EncryptedGroupInfo, egs.EncryptedGroupSecrets.KEMOutput, egs.EncryptedGroupSecrets.Ciphertext)
	if err != nil {
		return nil, invalidErr("12.4.3.1", "group secrets do not decrypt", ErrDecrypt)
	}
	var gs format.GroupSecrets
	if err := codec.Unmarshal(pt, &gs); err != nil {
		return nil, invalidErr("12.4.3.1", "malformed group secrets", ErrMalformed)
	}
	if len(gs.JoinerSecret) != s.HashLen() {
		return nil, invalid("12.4.3.1", "joiner secret has the wrong length")
	}
	// RFC 9420 §12.4.3.1: resolve every PSK; §8.4: no duplicates.
	psks, err := resolvePSKs(gs.PSKs, resolvePSK)
	if err != nil {
		return nil, err
	}
	pskSecret, err := schedule.PSKSecret(s, psks)
	if err != nil {
		return nil, err
	}
	// RFC 9420 §12.4.3.1: welcome_secret from joiner_secret and psk_secret.
	pre, err := schedule.FromJoiner(s, gs.JoinerSecret, pskSecret, nil)
	if err != nil {
		return nil, err
	}
	key, nonce := pre.WelcomeKeyNonce()
	giBytes, err := s.Open(key, nonce, nil, w.EncryptedGroupInfo)
	if err != nil {
		return nil, invalidErr("12.4.3.1", "group info does not decrypt", ErrDecrypt)
	}
	var gi format.GroupInfo
	if err := codec.Unmarshal(giBytes, &gi); err != nil {
		return nil, invalidErr("12.4.3.1", "malformed group info", ErrMalformed)
	}
	// RFC 9420 §12.4.3.1: the GroupInfo's suite matches.
	if uint16(gi.GroupContext.CipherSuite) != uint16(s.ID()) || gi.GroupContext.Version != format.MLS10 {
		return nil, invalid("12.4.3.1", "group info version or cipher suite does not match")
	}
	gc, err := codec.Marshal(&gi.GroupContext)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding group context: %w", err)
	}
	ep, err := schedule.FromJoiner(s, gs.JoinerSecret, pskSecret, gc)
	if err != nil {
		return nil, err
	}
	// RFC 9420 §12.4.3.1: verify the confirmation tag of the GroupInfo.
	if err := schedule.VerifyConfirmationTag(s, ep.ConfirmationKey, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
		return nil, invalidErr("12.4.3.1", "group info confirmation tag", ErrBadConfirmationTag)
	}
	return &openedWelcome{secrets: &gs, psks: psks, groupInfo: &gi, epoch: ep}, nil
}

// resolvePSKs looks up each PSK and rejects duplicates (RFC 9420 §8.4).
func resolvePSKs(ids []format.PreSharedKeyID, resolve func(*format.PreSharedKeyID) ([]byte, error)) ([]schedule.PSK, error) {
	psks := make([]schedule.PSK, 0, len(ids))
	seen := map[string]bool{}
	for i := range ids {
		key := string(codec.MustMarshal(&format.PreSharedKeyID{PSKType: ids[i].PSKType, PSKID: ids[i].PSKID, Usage: ids[i].Usage, PSKGroupID: ids[i].PSKGroupID, PSKEpoch: ids[i].PSKEpoch}))
		// RFC 9420 §8.4 / §12.2: a PSK may appear only once.
		if seen[key] {
			return nil, invalid("8.4", "duplicate PSK")
		}
		seen[key] = true
		if resolve == nil {
			return nil, invalidErr("8.4", "PSK not available", ErrUnknownPSK)
		}
		v, err := resolve(&ids[i])
		if err != nil {
			return nil, err
		}
		psks = append(psks, schedule.PSK{ID: ids[i], Value: v})
	}
	return psks, nil
}

// verifyGroupInfoSignature checks a GroupInfo signature with the signer's
// signature key (RFC 9420 §12.4.3.1).
func verifyGroupInfoSignature(s *suite.Suite, gi *format.GroupInfo, signerKey []byte) error {
	if err := s.VerifyWithLabel(signerKey, "GroupInfoTBS", gi.TBS(), gi.Signature); err != nil {
		return invalidErr("12.4.3.1", "group info signature", ErrBadSignature)
	}
	return nil
}
