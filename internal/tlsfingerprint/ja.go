package tlsfingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// JA3String is the JA3 input (salesforce/ja3 README): SSLVersion, Ciphers,
// Extensions, EllipticCurves, EllipticCurvePointFormats, each list in wire
// order as decimals joined by '-', fields joined by ',', GREASE values
// (RFC 8701) removed everywhere.
func (h *ClientHello) JA3String() string { return h.ja3String(false) }

// JA3NString is JA3String with the extensions sorted ("JA3N"), which stays
// the same across Chrome's per-connection extension shuffling.
func (h *ClientHello) JA3NString() string { return h.ja3String(true) }

func (h *ClientHello) ja3String(sortExtensions bool) string {
	exts := h.ExtensionTypes()
	if sortExtensions {
		slices.Sort(exts)
	}
	points := make([]uint16, len(h.PointFormats))
	for i, p := range h.PointFormats {
		points[i] = uint16(p)
	}
	return strings.Join([]string{
		strconv.Itoa(int(h.Version)),
		decimals(h.CipherSuites),
		decimals(exts),
		decimals(h.SupportedGroups),
		decimals(points),
	}, ",")
}

// JA3 is the MD5 of JA3String, in lower-case hex.
func (h *ClientHello) JA3() string { return md5hex(h.JA3String()) }

// JA3N is the MD5 of JA3NString, in lower-case hex.
func (h *ClientHello) JA3N() string { return md5hex(h.JA3NString()) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func decimals(vs []uint16) string {
	var parts []string
	for _, v := range vs {
		if !IsGREASE(v) {
			parts = append(parts, strconv.Itoa(int(v)))
		}
	}
	return strings.Join(parts, "-")
}

// JA4 is the JA4 fingerprint of a ClientHello carried over TCP, per FoxIO's
// technical_details/JA4.md: "t", the TLS version (highest non-GREASE
// supported_versions entry, else legacy_version), "d" if SNI is present else
// "i", the two-digit counts of ciphers and extensions (GREASE ignored, SNI and
// ALPN counted, capped at 99), the first and last characters of the first
// ALPN value; then the truncated SHA-256 of the sorted cipher list and of the
// sorted extension list (without SNI and ALPN) followed by the signature
// algorithms in wire order.
func (h *ClientHello) JA4() string { return ja4(h, false) }

// JA4O is JA4 with the lists in original wire order and SNI and ALPN kept in
// the extension list (JA4.md, "Raw Output", the -o option).
func (h *ClientHello) JA4O() string { return ja4(h, true) }

func ja4(h *ClientHello, original bool) string {
	ciphers := hexList(h.CipherSuites, !original)
	var all, hashed []uint16
	for _, e := range h.Extensions {
		if IsGREASE(e.Type) {
			continue
		}
		all = append(all, e.Type)
		if original || (e.Type != 0x0000 && e.Type != 0x0010) {
			hashed = append(hashed, e.Type)
		}
	}
	sni := "i"
	if h.HasServerName {
		sni = "d"
	}
	a := fmt.Sprintf("t%s%s%02d%02d%s", ja4Version(h), sni,
		min(len(ciphers), 99), min(len(all), 99), ja4ALPN(h))
	b := "000000000000"
	if len(ciphers) > 0 {
		b = sha12(strings.Join(ciphers, ","))
	}
	c := "000000000000"
	if exts := hexList(hashed, !original); len(exts) > 0 {
		in := strings.Join(exts, ",")
		if sigs := hexList(h.SignatureAlgorithms, false); len(sigs) > 0 {
			in += "_" + strings.Join(sigs, ",")
		}
		c = sha12(in)
	}
	return a + "_" + b + "_" + c
}

func ja4Version(h *ClientHello) string {
	v := h.Version
	if len(h.SupportedVersions) > 0 {
		v = 0
		for _, s := range h.SupportedVersions {
			if !IsGREASE(s) && s > v {
				v = s
			}
		}
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
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func ja4ALPN(h *ClientHello) string {
	if len(h.ALPN) == 0 || h.ALPN[0] == "" {
		return "00"
	}
	p := h.ALPN[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	x := hex.EncodeToString([]byte(p))
	return string([]byte{x[0], x[len(x)-1]})
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
}

func hexList(vs []uint16, sorted bool) []string {
	var out []string
	for _, v := range vs {
		if !IsGREASE(v) {
			out = append(out, fmt.Sprintf("%04x", v))
		}
	}
	if sorted {
		sort.Strings(out)
	}
	return out
}

func sha12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}
