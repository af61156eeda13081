package channel

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// State is what a verifier knows about one channel: its owner key and the
// admins revoked so far (by the seq of the revoking post). Admins need no
// registration: each admin post carries its owner-signed certificate. A
// State is not safe for concurrent use.
type State struct {
	Owner   Key
	ID      ID
	revoked map[Key]uint64 // admin key -> seq of the revoke post
}

// NewState returns the state of the channel owned by owner, with no
// revocations seen yet.
func NewState(owner Key) *State {
	return &State{Owner: owner, ID: IDOf(owner), revoked: map[Key]uint64{}}
}

// Revoked reports the seq at which admin was revoked, if it was.
func (s *State) Revoked(admin Key) (uint64, bool) {
	seq, ok := s.revoked[admin]
	return seq, ok
}

// Verify checks p against the channel: its id, its signer's authority at
// p.Seq and p.Time, and its signature. It does not change the state (see
// Apply).
func (s *State) Verify(p *Post) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("channel: verifying post: %w", err)
	}
	if p.Channel != s.ID {
		return fmt.Errorf("channel: verifying post %d: %w: it belongs to channel %v, not %v", p.Seq, ErrInvalid, p.Channel, s.ID)
	}
	if p.Signer != s.Owner {
		if p.Kind == KindRevoke {
			return fmt.Errorf("channel: verifying post %d: %w: only the owner revokes admins", p.Seq, ErrNotAdmin)
		}
		if len(p.AdminCert) == 0 {
			return fmt.Errorf("channel: verifying post %d: %w: no admin certificate", p.Seq, ErrNotAdmin)
		}
		cert, err := DecodeAdminCert(p.AdminCert)
		if err != nil {
			return fmt.Errorf("channel: verifying post %d: %w", p.Seq, err)
		}
		if cert.Admin != p.Signer {
			return fmt.Errorf("channel: verifying post %d: %w: the certificate names another key", p.Seq, ErrNotAdmin)
		}
		if err := cert.Verify(s.Owner); err != nil {
			return fmt.Errorf("channel: verifying post %d: %w", p.Seq, err)
		}
		if p.Time/1000 >= cert.Expires {
			return fmt.Errorf("channel: verifying post %d: %w: the admin certificate had expired", p.Seq, ErrNotAdmin)
		}
		if at, ok := s.revoked[p.Signer]; ok && p.Seq > at {
			return fmt.Errorf("channel: verifying post %d: %w: the admin was revoked at post %d", p.Seq, ErrNotAdmin, at)
		}
	} else if len(p.AdminCert) != 0 {
		return fmt.Errorf("channel: verifying post %d: %w: the owner's posts carry no certificate", p.Seq, ErrInvalid)
	}
	w := newWriter(make([]byte, 0, len(postContext)+200+len(p.Body)+len(p.AdminCert)))
	w.fixed([]byte(postContext))
	p.appendSigned(&w)
	if !ed25519.Verify(p.Signer[:], w.Bytes(), p.Signature[:]) {
		return fmt.Errorf("channel: verifying post %d: %w", p.Seq, ErrSignature)
	}
	return nil
}

// Apply records what a verified post changes in the state: a revocation.
func (s *State) Apply(p *Post) {
	if p.Kind == KindRevoke && p.Signer == s.Owner {
		var k Key
		copy(k[:], p.Body)
		if at, ok := s.revoked[k]; !ok || p.Seq < at {
			s.revoked[k] = p.Seq
		}
	}
}

// VerifyEncoded decodes and verifies an encoded post, and checks that the
// encoding is canonical (re-encoding gives the same bytes).
func (s *State) VerifyEncoded(b []byte) (*Post, error) {
	p, err := DecodePost(b)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(p); err != nil {
		return nil, err
	}
	if !bytes.Equal(p.Encode(), b) {
		return nil, fmt.Errorf("channel: verifying post %d: %w: not canonical", p.Seq, ErrInvalid)
	}
	return p, nil
}
