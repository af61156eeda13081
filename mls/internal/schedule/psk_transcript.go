package schedule

import (
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// PSK is one pre-shared key injected into an epoch: its identifier as
// listed in the Commit's PreSharedKey proposals (or the Welcome's
// GroupSecrets) and its secret value.
type PSK struct {
	ID    format.PreSharedKeyID
	Value []byte
}

// PSKSecret computes psk_secret from the PSKs in the order they are listed
// (RFC 9420 §8.4). With no PSKs it is the zero vector.
func PSKSecret(s *suite.Suite, psks []PSK) ([]byte, error) {
	// RFC 9420 §8.4: PSKLabel.index and count are uint16.
	if len(psks) > 0xffff {
		return nil, fmt.Errorf("mls: computing psk_secret: %d PSKs, more than 65535", len(psks))
	}
	secret := Zero(s) // psk_secret_[0]
	zero := Zero(s)
	for i, p := range psks {
		label, err := codec.Marshal(&format.PSKLabel{ID: p.ID, Index: uint16(i), Count: uint16(len(psks))})
		if err != nil {
			return nil, fmt.Errorf("mls: computing psk_secret: encoding PSKLabel %d: %w", i, err)
		}
		// RFC 9420 §8.4:
		//   psk_extracted_[i] = KDF.Extract(0, psk_[i])
		//   psk_input_[i] = ExpandWithLabel(psk_extracted_[i], "derived psk", PSKLabel, KDF.Nh)
		//   psk_secret_[i] = KDF.Extract(psk_input_[i-1], psk_secret_[i-1])
		extracted := s.Extract(zero, p.Value)
		input := s.ExpandWithLabel(extracted, "derived psk", label, s.HashLen())
		next := s.Extract(input, secret)
		wipe(extracted)
		wipe(input)
		wipe(secret)
		secret = next
	}
	return secret, nil
}

// ErrConfirmationTag is returned when a Commit's confirmation tag does not
// verify (RFC 9420 §8.1).
var ErrConfirmationTag = errors.New("mls: confirmation tag mismatch")

// ConfirmedTranscriptHash computes confirmed_transcript_hash_[n] =
// Hash(interim_transcript_hash_[n-1] || ConfirmedTranscriptHashInput_[n])
// for the commit ac (RFC 9420 §8.2).
func ConfirmedTranscriptHash(s *suite.Suite, interimBefore []byte, ac *format.AuthenticatedContent) ([]byte, error) {
	// RFC 9420 §8.2: the transcript covers Commit messages only.
	if ac.Content.ContentType != format.ContentCommit {
		return nil, fmt.Errorf("mls: computing confirmed transcript hash: content type %d is not a commit", ac.Content.ContentType)
	}
	in, err := ac.ConfirmedTranscriptHashInput()
	if err != nil {
		return nil, fmt.Errorf("mls: computing confirmed transcript hash: %w", err)
	}
	return s.Hash(append(append([]byte{}, interimBefore...), in...)), nil
}

// InterimTranscriptHash computes interim_transcript_hash_[n] =
// Hash(confirmed_transcript_hash_[n] || InterimTranscriptHashInput_[n])
// where the input carries the confirmation tag (RFC 9420 §8.2).
func InterimTranscriptHash(s *suite.Suite, confirmed, confirmationTag []byte) ([]byte, error) {
	in, err := codec.Marshal(&format.InterimTranscriptHashInput{ConfirmationTag: confirmationTag})
	if err != nil {
		return nil, fmt.Errorf("mls: computing interim transcript hash: %w", err)
	}
	return s.Hash(append(append([]byte{}, confirmed...), in...)), nil
}

// ConfirmationTag computes MAC(confirmation_key, confirmed_transcript_hash)
// (RFC 9420 §8.1).
func ConfirmationTag(s *suite.Suite, confirmationKey, confirmedTranscriptHash []byte) []byte {
	return s.MAC(confirmationKey, confirmedTranscriptHash)
}

// VerifyConfirmationTag checks tag in constant time (RFC 9420 §8.1: the
// recipient MUST verify the confirmation tag).
func VerifyConfirmationTag(s *suite.Suite, confirmationKey, confirmedTranscriptHash, tag []byte) error {
	if !suite.Equal(s.MAC(confirmationKey, confirmedTranscriptHash), tag) {
		return ErrConfirmationTag
	}
	return nil
}
