package channel

import (
	"crypto/ed25519"
	"fmt"
	"unicode/utf8"
)

// Kind says what a post does.
type Kind uint8

const (
	KindText   Kind = 1 // a new post; Body is UTF-8 text, not empty
	KindEdit   Kind = 2 // replaces the text (a media post's caption) of post Target; Body is the new text
	KindDelete Kind = 3 // deletes post Target; Body is empty
	KindRevoke Kind = 4 // revokes an admin; Body is the admin's 32-byte key; owner only
	KindMedia  Kind = 5 // a new post with a file; Body is an encoded Media (media.go)
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindEdit:
		return "edit"
	case KindDelete:
		return "delete"
	case KindRevoke:
		return "revoke"
	case KindMedia:
		return "media"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Post is one signed entry of a channel. Seq numbers a channel's posts from
// 1 without gaps: the server accepts a post only as the channel's next one,
// so a relay or mirror can neither reorder posts nor drop one unnoticed.
type Post struct {
	Channel   ID
	Seq       uint64 // from 1
	Time      uint64 // Unix milliseconds, as the signer's clock said
	Kind      Kind
	Target    uint64 // KindEdit, KindDelete: the seq of the post; else 0
	Body      []byte
	Signer    Key    // the owner, or an admin
	AdminCert []byte // empty when the owner signs; else the encoded AdminCert of Signer
	Signature [64]byte
}

func (p *Post) appendSigned(w *writer) {
	w.fixed(p.Channel[:])
	w.u64(p.Seq)
	w.u64(p.Time)
	w.u8(uint8(p.Kind))
	w.u64(p.Target)
	w.opaque(p.Body)
	w.fixed(p.Signer[:])
	w.opaque(p.AdminCert)
}

// check validates the fields that need no key (docs/spec/channels.md §3).
func (p *Post) check() error {
	if p.Seq == 0 {
		return fmt.Errorf("seq: %w: posts are numbered from 1", ErrInvalid)
	}
	switch p.Kind {
	case KindText:
		if p.Target != 0 || len(p.Body) == 0 || !utf8.Valid(p.Body) {
			return fmt.Errorf("text post: %w: needs non-empty UTF-8 text and no target", ErrInvalid)
		}
	case KindEdit:
		if p.Target == 0 || p.Target >= p.Seq || len(p.Body) == 0 || !utf8.Valid(p.Body) {
			return fmt.Errorf("edit: %w: needs an earlier target and non-empty UTF-8 text", ErrInvalid)
		}
	case KindDelete:
		if p.Target == 0 || p.Target >= p.Seq || len(p.Body) != 0 {
			return fmt.Errorf("delete: %w: needs an earlier target and no body", ErrInvalid)
		}
	case KindRevoke:
		if p.Target != 0 || len(p.Body) != len(Key{}) || len(p.AdminCert) != 0 {
			return fmt.Errorf("revoke: %w: body must be one 32-byte key, signed by the owner", ErrInvalid)
		}
	case KindMedia:
		if p.Target != 0 {
			return fmt.Errorf("media post: %w: needs no target", ErrInvalid)
		}
		if _, _, err := DecodeMedia(p.Body); err != nil {
			return err
		}
	default:
		return fmt.Errorf("kind: %w: %d", ErrInvalid, uint8(p.Kind))
	}
	if len(p.Body) > MaxBody {
		return fmt.Errorf("body: %w: %d bytes > limit %d", ErrTooLarge, len(p.Body), MaxBody)
	}
	if len(p.AdminCert) > MaxAdminCert {
		return fmt.Errorf("admin_cert: %w", ErrTooLarge)
	}
	return nil
}

// Sign fills Signer and Signature with key (and AdminCert with cert, the
// encoded certificate of an admin key; nil for the owner). It checks the
// fields first.
func (p *Post) Sign(key ed25519.PrivateKey, cert []byte) error {
	p.Signer = KeyOf(key)
	p.AdminCert = cert
	if err := p.check(); err != nil {
		return fmt.Errorf("channel: signing post: %w", err)
	}
	w := newWriter([]byte(postContext))
	p.appendSigned(&w)
	copy(p.Signature[:], ed25519.Sign(key, w.Bytes()))
	return nil
}

// Encode returns the canonical encoding.
func (p *Post) Encode() []byte {
	return encodeSigned(newWriter(make([]byte, 0, 200+len(p.Body)+len(p.AdminCert))), p, &p.Signature) // identity.go
}

// DecodePost parses a post and checks its fields. It does not check the
// signature: that needs the channel's State (Verify).
func DecodePost(b []byte) (*Post, error) {
	if len(b) > MaxPost {
		return nil, fmt.Errorf("channel: decoding post: %w: %d bytes > limit %d", ErrTooLarge, len(b), MaxPost)
	}
	r := newReader(b)
	p := &Post{}
	r.fixed("channel", p.Channel[:])
	p.Seq = r.u64("seq")
	p.Time = r.u64("time")
	p.Kind = Kind(r.u8("kind"))
	p.Target = r.u64("target")
	p.Body = r.opaque("body", MaxBody)
	r.fixed("signer", p.Signer[:])
	p.AdminCert = r.opaque("admin_cert", MaxAdminCert)
	r.fixed("signature", p.Signature[:])
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("channel: decoding post: %w", err)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("channel: decoding post: %w", err)
	}
	return p, nil
}

// PeekSeq returns the channel id and seq of an encoded post without
// decoding the rest (for routing); ok is false if b is too short.
func PeekSeq(b []byte) (id ID, seq uint64, ok bool) {
	if len(b) < 40 {
		return id, 0, false
	}
	copy(id[:], b)
	r := newReader(b[32:40])
	return id, r.u64("seq"), true
}
