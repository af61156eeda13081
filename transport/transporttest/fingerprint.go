package transporttest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// ClientHello holds the fields of a TLS ClientHello that JA3 and JA4 use,
// in the order they appear on the wire, GREASE values included.
type ClientHello struct {
	RecordVersion       uint16 // the TLS record layer's version
	Version             uint16 // legacy_version of the ClientHello
	CipherSuites        []uint16
	Extensions          []uint16
	ServerName          string // "" when there is no SNI extension
	HasSNI              bool
	Groups              []uint16 // supported_groups (10)
	PointFormats        []uint8  // ec_point_formats (11)
	SignatureAlgorithms []uint16 // signature_algorithms (13)
	ALPN                []string // application_layer_protocol_negotiation (16)
	SupportedVersions   []uint16 // supported_versions (43)
}

// ParseClientHello reads a ClientHello from the first bytes a client sent:
// one or more TLS handshake records. It never panics; malformed input, a
// duplicate extension or trailing bytes inside the message are errors.
func ParseClientHello(first []byte) (*ClientHello, error) {
	var msg []byte
	var recVersion uint16
	in := cryptobyte.String(first)
	for {
		var typ uint8
		var frag cryptobyte.String
		if !in.ReadUint8(&typ) || !in.ReadUint16(&recVersion) || !in.ReadUint16LengthPrefixed(&frag) {
			return nil, errors.New("transporttest: truncated TLS record")
		}
		if typ != 0x16 {
			return nil, fmt.Errorf("transporttest: record type %#x, want handshake (0x16)", typ)
		}
		msg = append(msg, frag...)
		if len(msg) >= 4 {
			n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
			if len(msg) >= 4+n {
				msg = msg[:4+n]
				break
			}
		}
	}
	ch := &ClientHello{RecordVersion: recVersion}
	s := cryptobyte.String(msg)
	var typ uint8
	var body, random, sessionID, ciphers, compression cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, errors.New("transporttest: not a ClientHello handshake message")
	}
	if !body.ReadUint16(&ch.Version) || !body.ReadBytes((*[]byte)(&random), 32) ||
		!body.ReadUint8LengthPrefixed(&sessionID) || !body.ReadUint16LengthPrefixed(&ciphers) ||
		!body.ReadUint8LengthPrefixed(&compression) {
		return nil, errors.New("transporttest: malformed ClientHello")
	}
	for !ciphers.Empty() {
		var c uint16
		if !ciphers.ReadUint16(&c) {
			return nil, errors.New("transporttest: odd cipher suite list")
		}
		ch.CipherSuites = append(ch.CipherSuites, c)
	}
	if body.Empty() {
		return ch, nil
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, errors.New("transporttest: malformed extensions block")
	}
	for !exts.Empty() {
		var id uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&id) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("transporttest: malformed extension")
		}
		if slices.Contains(ch.Extensions, id) {
			return nil, fmt.Errorf("transporttest: extension %d twice", id)
		}
		ch.Extensions = append(ch.Extensions, id)
		if err := ch.parseExtension(id, data); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

func (ch *ClientHello) parseExtension(id uint16, data cryptobyte.String) error {
	var list cryptobyte.String
	ok := true
	switch id {
	case 0: // server_name
		ch.HasSNI = true
		var name cryptobyte.String
		var nameType uint8
		if len(data) > 0 {
			ok = data.ReadUint16LengthPrefixed(&list) && list.ReadUint8(&nameType) && list.ReadUint16LengthPrefixed(&name)
			ch.ServerName = string(name)
		}
	case 10:
		ok = data.ReadUint16LengthPrefixed(&list) && readUint16s(&list, &ch.Groups)
	case 11:
		ok = data.ReadUint8LengthPrefixed(&list)
		ch.PointFormats = append([]uint8(nil), list...)
	case 13:
		ok = data.ReadUint16LengthPrefixed(&list) && readUint16s(&list, &ch.SignatureAlgorithms)
	case 16:
		ok = data.ReadUint16LengthPrefixed(&list)
		for ok && !list.Empty() {
			var proto cryptobyte.String
			ok = list.ReadUint8LengthPrefixed(&proto)
			ch.ALPN = append(ch.ALPN, string(proto))
		}
	case 43:
		ok = data.ReadUint8LengthPrefixed(&list) && readUint16s(&list, &ch.SupportedVersions)
	}
	if !ok {
		return fmt.Errorf("transporttest: malformed extension %d", id)
	}
	return nil
}

func readUint16s(s *cryptobyte.String, out *[]uint16) bool {
	for !s.Empty() {
		var v uint16
		if !s.ReadUint16(&v) {
			return false
		}
		*out = append(*out, v)
	}
	return true
}

// IsGREASE reports whether v is a GREASE value (RFC 8701): 0x?a?a with equal
// bytes.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func withoutGREASE(vs []uint16) []uint16 {
	var out []uint16
	for _, v := range vs {
		if !IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

func joinDec[T uint8 | uint16](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, "-")
}

func joinHex(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

// JA3String is the JA3 input (Salesforce's definition): the decimal
// legacy_version, cipher suites, extensions (in wire order), groups and
// point formats, each "-"-joined, GREASE removed, joined by ",".
func (ch *ClientHello) JA3String() string {
	return fmt.Sprintf("%d,%s,%s,%s,%s", ch.Version,
		joinDec(withoutGREASE(ch.CipherSuites)), joinDec(withoutGREASE(ch.Extensions)),
		joinDec(withoutGREASE(ch.Groups)), joinDec(ch.PointFormats))
}

// JA3NString is JA3String with the extensions sorted ("JA3N"), which stays
// the same across Chrome's per-connection extension shuffling.
func (ch *ClientHello) JA3NString() string {
	sorted := *ch
	sorted.Extensions = slices.Sorted(slices.Values(withoutGREASE(ch.Extensions)))
	return sorted.JA3String()
}

// JA3 is the MD5 of JA3String, in hex.
func (ch *ClientHello) JA3() string { return md5hex(ch.JA3String()) }

// JA3N is the MD5 of JA3NString, in hex.
func (ch *ClientHello) JA3N() string { return md5hex(ch.JA3NString()) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// JA4 is FoxIO's JA4 TLS client fingerprint (technical_details/JA4.md,
// v0.18.2) for a ClientHello over TCP: a_b_c where
//
//	a = "t" + version + ("d" SNI | "i") + %02d ciphers + %02d extensions + ALPN first/last char
//	b = sha256(sorted cipher hex list)[:12]
//	c = sha256(sorted extension hex list without SNI and ALPN + "_" + signature algorithms in order)[:12]
//
// GREASE is ignored everywhere.
func (ch *ClientHello) JA4() string {
	ciphers := withoutGREASE(ch.CipherSuites)
	exts := withoutGREASE(ch.Extensions)
	a := "t" + ja4Version(ch) + map[bool]string{true: "d", false: "i"}[ch.HasSNI] +
		fmt.Sprintf("%02d%02d", min(len(ciphers), 99), min(len(exts), 99)) + ja4ALPN(ch.ALPN)

	b := "000000000000"
	if len(ciphers) > 0 {
		b = sha12(joinHex(slices.Sorted(slices.Values(ciphers))))
	}
	var hashed []uint16
	for _, e := range exts {
		if e != 0x0000 && e != 0x0010 {
			hashed = append(hashed, e)
		}
	}
	c := "000000000000"
	if len(hashed) > 0 {
		in := joinHex(slices.Sorted(slices.Values(hashed)))
		if sigs := withoutGREASE(ch.SignatureAlgorithms); len(sigs) > 0 {
			in += "_" + joinHex(sigs)
		}
		c = sha12(in)
	}
	return a + "_" + b + "_" + c
}

func ja4Version(ch *ClientHello) string {
	v := ch.Version
	if vs := withoutGREASE(ch.SupportedVersions); len(vs) > 0 {
		v = slices.Max(vs)
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	}
	return "00"
}

func ja4ALPN(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	p := alpn[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	h := hex.EncodeToString([]byte(p))
	return string([]byte{h[0], h[len(h)-1]})
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func sha12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}
