// Package tlsfingerprint owns the parsing of a TLS ClientHello (record
// reassembly included) and the JA3, JA3N and JA4 fingerprints computed from
// their public definitions (salesforce/ja3 README; FoxIO-LLC/ja4
// technical_details/JA4.md). It is a leaf: the censor lab (what a DPI box
// sees) and the transport conformance suite (what our hellos look like) both
// use it.
package tlsfingerprint

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

var (
	// ErrIncomplete: the bytes are a prefix of a ClientHello; read more.
	ErrIncomplete = errors.New("tlsfingerprint: incomplete ClientHello")
	// ErrNotClientHello: the bytes are not a TLS handshake carrying a
	// ClientHello.
	ErrNotClientHello = errors.New("tlsfingerprint: not a TLS ClientHello")
)

// Extension is one ClientHello extension in wire order.
type Extension struct {
	Type uint16
	Data []byte
}

// ClientHello holds the fields fingerprints are made of.
type ClientHello struct {
	RecordVersion       uint16 // version field of the first record header
	Version             uint16 // legacy_version
	Random              []byte
	SessionID           []byte
	CipherSuites        []uint16 // wire order, GREASE included
	Compression         []byte
	Extensions          []Extension // wire order, GREASE included
	ServerName          string      // first host_name of server_name, "" if none
	HasServerName       bool
	ALPN                []string // protocol names in order
	SupportedVersions   []uint16
	SupportedGroups     []uint16
	PointFormats        []uint8
	SignatureAlgorithms []uint16
	// Raw is the handshake message (type, length and body).
	Raw []byte
}

// ParseRecords reads TLS records from the start of a client's stream and
// parses the ClientHello they carry. It returns ErrIncomplete while the
// stream is a proper prefix (the hello may span TCP segments and records).
func ParseRecords(stream []byte) (*ClientHello, error) {
	var msg []byte
	var recordVersion uint16
	s := stream
	for first := true; ; first = false {
		if len(s) < 5 {
			if len(s) > 0 && s[0] != 0x16 {
				return nil, ErrNotClientHello
			}
			return nil, ErrIncomplete
		}
		// RFC 8446 §5.1: ContentType handshake(22), legacy_record_version
		// 0x03XX, length at most 2^14.
		if s[0] != 0x16 || s[1] != 0x03 {
			return nil, ErrNotClientHello
		}
		n := int(s[3])<<8 | int(s[4])
		if n == 0 || n > 1<<14 {
			return nil, ErrNotClientHello
		}
		if first {
			recordVersion = uint16(s[1])<<8 | uint16(s[2])
		}
		if len(s) < 5+n {
			return nil, ErrIncomplete
		}
		msg = append(msg, s[5:5+n]...)
		s = s[5+n:]
		if len(msg) >= 4 {
			if msg[0] != 0x01 { // HandshakeType client_hello
				return nil, ErrNotClientHello
			}
			want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if len(msg) >= want {
				h, err := ParseClientHello(msg[:want])
				if err != nil {
					return nil, err
				}
				h.RecordVersion = recordVersion
				return h, nil
			}
		}
	}
}

// ParseClientHello parses a handshake message (type, 24-bit length, body).
func ParseClientHello(msg []byte) (*ClientHello, error) {
	h := &ClientHello{Raw: append([]byte(nil), msg...)}
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, fmt.Errorf("%w: bad handshake header", ErrNotClientHello)
	}
	var random, sid, ciphers, comp cryptobyte.String
	// RFC 8446 §4.1.2 ClientHello layout.
	if !body.ReadUint16(&h.Version) || !body.ReadBytes((*[]byte)(&random), 32) ||
		!body.ReadUint8LengthPrefixed(&sid) || !body.ReadUint16LengthPrefixed(&ciphers) ||
		!body.ReadUint8LengthPrefixed(&comp) {
		return nil, fmt.Errorf("%w: truncated body", ErrNotClientHello)
	}
	h.Random, h.SessionID, h.Compression = random, sid, comp
	for !ciphers.Empty() {
		var c uint16
		if !ciphers.ReadUint16(&c) {
			return nil, fmt.Errorf("%w: odd cipher list", ErrNotClientHello)
		}
		h.CipherSuites = append(h.CipherSuites, c)
	}
	if body.Empty() {
		return h, nil // no extensions (pre-TLS 1.2 style hello)
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, fmt.Errorf("%w: bad extensions block", ErrNotClientHello)
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, fmt.Errorf("%w: truncated extension", ErrNotClientHello)
		}
		h.Extensions = append(h.Extensions, Extension{Type: typ, Data: data})
		if err := h.parseExtension(typ, data); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *ClientHello) parseExtension(typ uint16, data cryptobyte.String) error {
	bad := func(what string) error { return fmt.Errorf("%w: bad %s extension", ErrNotClientHello, what) }
	switch typ {
	case 0x0000: // server_name, RFC 6066 §3
		h.HasServerName = true
		var list cryptobyte.String
		if len(data) == 0 {
			return nil
		}
		if !data.ReadUint16LengthPrefixed(&list) {
			return bad("server_name")
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return bad("server_name")
			}
			if nameType == 0 && h.ServerName == "" {
				h.ServerName = string(name)
			}
		}
	case 0x0010: // ALPN, RFC 7301 §3.1
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return bad("alpn")
		}
		for !list.Empty() {
			var p cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&p) {
				return bad("alpn")
			}
			h.ALPN = append(h.ALPN, string(p))
		}
	case 0x002b: // supported_versions, RFC 8446 §4.2.1
		vs, ok := readUint16List(&data, true)
		if !ok {
			return bad("supported_versions")
		}
		h.SupportedVersions = vs
	case 0x000a: // supported_groups, RFC 8446 §4.2.7
		vs, ok := readUint16List(&data, false)
		if !ok {
			return bad("supported_groups")
		}
		h.SupportedGroups = vs
	case 0x000b: // ec_point_formats, RFC 8422 §5.1.2
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return bad("ec_point_formats")
		}
		h.PointFormats = append([]uint8(nil), list...)
	case 0x000d: // signature_algorithms, RFC 8446 §4.2.3
		vs, ok := readUint16List(&data, false)
		if !ok {
			return bad("signature_algorithms")
		}
		h.SignatureAlgorithms = vs
	}
	return nil
}

// readUint16List reads a list of uint16s behind a one-byte (short) or
// two-byte length prefix.
func readUint16List(data *cryptobyte.String, short bool) ([]uint16, bool) {
	var list cryptobyte.String
	if short && !data.ReadUint8LengthPrefixed(&list) || !short && !data.ReadUint16LengthPrefixed(&list) {
		return nil, false
	}
	return readUint16s(list)
}

func readUint16s(s cryptobyte.String) ([]uint16, bool) {
	var out []uint16
	for !s.Empty() {
		var v uint16
		if !s.ReadUint16(&v) {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// ExtensionTypes returns the types of the extensions in wire order, GREASE
// included.
func (h *ClientHello) ExtensionTypes() []uint16 {
	out := make([]uint16, len(h.Extensions))
	for i, e := range h.Extensions {
		out[i] = e.Type
	}
	return out
}

// IsGREASE reports whether v is a GREASE value (RFC 8701 §2: 0x?A?A with
// both bytes equal).
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
