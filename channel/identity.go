package channel

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"unicode/utf8"
)

// Signature contexts: every signed structure is prefixed with its own
// string, so that a signature can never be replayed as another kind.
const (
	descriptorContext = "samizdat channel descriptor v1"
	adminContext      = "samizdat channel admin v1"
	postContext       = "samizdat channel post v1"
)

// Limits every decoder enforces.
const (
	MaxName       = 128      // bytes of a channel name (UTF-8)
	MaxBody       = 16 << 10 // bytes of a post body
	MaxAdminCert  = 256      // bytes of an encoded AdminCert (it is 136)
	MaxPost       = 20 << 10 // bytes of an encoded Post
	MaxDescriptor = 512      // bytes of an encoded Descriptor
)

// ID identifies a channel: SHA-256 of its owner's Ed25519 public key.
type ID [32]byte

// Key is an Ed25519 public key (the owner's or an admin's).
type Key [32]byte

// IDOf returns the channel id of an owner key.
func IDOf(owner Key) ID { return sha256.Sum256(owner[:]) }

// KeyOf returns the public key of an Ed25519 private key.
func KeyOf(priv ed25519.PrivateKey) (k Key) {
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return
}

// String returns the id in hex, shortened, for logs and listings.
func (id ID) String() string { return fmt.Sprintf("%x", id[:8]) }

// Descriptor is the owner-signed statement that creates a channel: its key,
// its display name and its creation time.
type Descriptor struct {
	Owner     Key
	Name      string // UTF-8, 1..MaxName bytes
	Created   uint64 // Unix seconds
	Signature [64]byte
}

// ID is the channel's id.
func (d *Descriptor) ID() ID { return IDOf(d.Owner) }

func (d *Descriptor) appendSigned(w *writer) {
	w.fixed(d.Owner[:])
	w.opaque([]byte(d.Name))
	w.u64(d.Created)
}

// NewDescriptor signs a descriptor with the owner's private key.
func NewDescriptor(owner ed25519.PrivateKey, name string, created uint64) (*Descriptor, error) {
	d := &Descriptor{Owner: KeyOf(owner), Name: name, Created: created}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("channel: making descriptor: %w", err)
	}
	signFields(owner, descriptorContext, d, &d.Signature)
	return d, nil
}

func (d *Descriptor) check() error {
	if len(d.Name) == 0 || len(d.Name) > MaxName || !utf8.ValidString(d.Name) {
		return fmt.Errorf("name: %w: must be 1..%d bytes of UTF-8", ErrInvalid, MaxName)
	}
	return nil
}

// Encode returns the canonical encoding.
func (d *Descriptor) Encode() []byte { return encodeSigned(writer{}, d, &d.Signature) }

// DecodeDescriptor parses and verifies a descriptor: a descriptor that
// decodes is signed by its owner key.
func DecodeDescriptor(b []byte) (*Descriptor, error) {
	if len(b) > MaxDescriptor {
		return nil, fmt.Errorf("channel: decoding descriptor: %w: %d bytes", ErrTooLarge, len(b))
	}
	r := newReader(b)
	d := &Descriptor{}
	r.fixed("owner", d.Owner[:])
	d.Name = string(r.opaque("name", MaxName))
	d.Created = r.u64("created")
	r.fixed("signature", d.Signature[:])
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("channel: decoding descriptor: %w", err)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("channel: decoding descriptor: %w", err)
	}
	if !fieldsSigned(d.Owner, descriptorContext, d, &d.Signature) {
		return nil, fmt.Errorf("channel: decoding descriptor: %w", ErrSignature)
	}
	return d, nil
}

// AdminCert is the owner's delegation of posting rights to an admin key,
// until Expires.
type AdminCert struct {
	Channel   ID
	Admin     Key
	Expires   uint64 // Unix seconds; posts timed at or after it are refused
	Signature [64]byte
}

func (c *AdminCert) appendSigned(w *writer) {
	w.fixed(c.Channel[:])
	w.fixed(c.Admin[:])
	w.u64(c.Expires)
}

// NewAdminCert has the owner certify admin until expires (Unix seconds).
func NewAdminCert(owner ed25519.PrivateKey, admin Key, expires uint64) *AdminCert {
	c := &AdminCert{Channel: IDOf(KeyOf(owner)), Admin: admin, Expires: expires}
	signFields(owner, adminContext, c, &c.Signature)
	return c
}

// Encode returns the canonical encoding (136 bytes).
func (c *AdminCert) Encode() []byte { return encodeSigned(writer{}, c, &c.Signature) }

// DecodeAdminCert parses a certificate; Verify checks it.
func DecodeAdminCert(b []byte) (*AdminCert, error) {
	r := newReader(b)
	c := &AdminCert{}
	r.fixed("channel", c.Channel[:])
	r.fixed("admin", c.Admin[:])
	c.Expires = r.u64("expires")
	r.fixed("signature", c.Signature[:])
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("channel: decoding admin certificate: %w", err)
	}
	return c, nil
}

// Verify checks that the certificate is the owner's signature for this
// channel.
func (c *AdminCert) Verify(owner Key) error {
	if c.Channel != IDOf(owner) {
		return fmt.Errorf("channel: admin certificate: %w: it is for another channel", ErrInvalid)
	}
	if !fieldsSigned(owner, adminContext, c, &c.Signature) {
		return fmt.Errorf("channel: admin certificate: %w", ErrSignature)
	}
	return nil
}

// signable is a structure whose signature covers a context string, for
// domain separation, then its signed fields.
type signable interface{ appendSigned(w *writer) }

// signedBytes is what a signature over v covers.
func signedBytes(context string, v signable) []byte {
	w := newWriter([]byte(context))
	v.appendSigned(&w)
	return w.Bytes()
}

// encodeSigned appends v's signed fields, then sig, to w: the canonical
// encoding of a signed structure.
func encodeSigned(w writer, v signable, sig *[64]byte) []byte {
	v.appendSigned(&w)
	w.fixed(sig[:])
	return w.Bytes()
}

// signFields signs v's fields, after context, with key into sig.
func signFields(key ed25519.PrivateKey, context string, v signable, sig *[64]byte) {
	copy(sig[:], ed25519.Sign(key, signedBytes(context, v)))
}

// fieldsSigned reports whether sig is signer's signature over v's fields,
// after context.
func fieldsSigned(signer Key, context string, v signable, sig *[64]byte) bool {
	return ed25519.Verify(signer[:], signedBytes(context, v), sig[:])
}
