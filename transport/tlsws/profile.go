package tlsws

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// ShapeProfile is an opening profile: Chromium's connections to one cover
// site, which a tunnel's opening replays (docs/spec/transports.md, "The
// profile of the relay's own cover site"). The zero of *ShapeProfile (nil)
// is the built-in profile (chrome_shape_profile.txt, the transport's test
// cover). A relay records its own with `samizdat relay record-shape` and
// serves with `--shape-profile FILE`; the profile reaches clients in the
// relay's link (ParamShape, EncodeLink), so a client replays the same
// loads as the relay it dials.
type ShapeProfile struct {
	traces shapeTraceSet
}

// ParseShapeProfile reads a profile in the text form of
// chrome_shape_profile.txt (what `samizdat relay record-shape` writes).
func ParseShapeProfile(text []byte) (*ShapeProfile, error) {
	traces, err := parseShapeProfile(string(text))
	if err != nil {
		return nil, err
	}
	return &ShapeProfile{traces: traces}, nil
}

// Traces is how many connections the profile holds.
func (p *ShapeProfile) Traces() int { return len(p.set()) }

// set returns the traces to replay: p's, or the built-in ones for nil.
func (p *ShapeProfile) set() shapeTraceSet {
	if p == nil {
		return shapeTraces
	}
	return p.traces
}

// The link form (ParamShape): unpadded base64url of
//
//	u8 version (shapeLinkVersion)
//	u8 trace count, 1..ShapeLinkMaxTraces
//	per trace: u8 record count, 1..shapeTraceMaxLen
//	  per record: uvarint size<<1 | 1 if the client sent it, uvarint milliseconds after the trace's previous record
//
// (uvarints as encoding/binary writes them: three bytes a record for most
// records, so that the link still fits a QR code a phone reads.)
//
// Every trace is checked as a text profile's line is (sizes, times, a
// client and a server record); anything else is an error.
const (
	shapeLinkVersion = 1
	// ShapeLinkMaxTraces bounds the traces a link carries. The relay
	// keeps the first ShapeLinkTraces of its profile (the link and a
	// relay's own replay use the same ones).
	ShapeLinkMaxTraces = 64
	ShapeLinkTraces    = 8
	// shapeLinkRecords is how much of each trace a link keeps: the
	// records a censor's classifiers read first (the lab's reads 5).
	shapeLinkRecords = 10
)

// ForLink returns the part of p a relay link carries and the relay
// replays: ShapeLinkTraces of its traces, spread evenly over the profile
// (a recording's first connections are one page load's), each cut to its
// first shapeLinkRecords records (a cut that no longer holds a server
// record is left out).
func (p *ShapeProfile) ForLink() *ShapeProfile {
	var out shapeTraceSet
	set := p.set()
	for k := range min(len(set), ShapeLinkTraces) {
		tr := set[k*len(set)/min(len(set), ShapeLinkTraces)]
		cut, err := parseShapeTrace(traceText(tr[:min(len(tr), shapeLinkRecords)]))
		if err == nil {
			out = append(out, cut)
		}
	}
	return &ShapeProfile{traces: out}
}

// EncodeLink returns the link form of p (all of it: call ForLink first).
func (p *ShapeProfile) EncodeLink() string {
	var b cryptobyte.Builder
	b.AddUint8(shapeLinkVersion)
	set := p.set()
	b.AddUint8(uint8(min(len(set), ShapeLinkMaxTraces)))
	for _, tr := range set[:min(len(set), ShapeLinkMaxTraces)] {
		b.AddUint8(uint8(len(tr)))
		var prev time.Duration
		for _, r := range tr {
			v := uint64(r.size) << 1
			if r.up {
				v |= 1
			}
			b.AddBytes(binary.AppendUvarint(binary.AppendUvarint(nil, v), uint64((r.at-prev)/time.Millisecond)))
			prev = r.at
		}
	}
	return base64.RawURLEncoding.EncodeToString(b.BytesOrPanic())
}

// errShapeLink marks a link's profile that does not decode.
var errShapeLink = errors.New("tlsws: the link's shape profile is malformed")

// DecodeShapeLink reads the link form. A client given a malformed one
// keeps the built-in profile (ConfigFromSpec).
func DecodeShapeLink(s string) (*ShapeProfile, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", errShapeLink)
	}
	in := cryptobyte.String(raw)
	var version, n uint8
	if !in.ReadUint8(&version) || version != shapeLinkVersion {
		return nil, fmt.Errorf("%w: version %d, this client reads %d (update samizdat)", errShapeLink, version, shapeLinkVersion)
	}
	if !in.ReadUint8(&n) || n == 0 || n > ShapeLinkMaxTraces {
		return nil, fmt.Errorf("%w: %d traces, 1..%d allowed", errShapeLink, n, ShapeLinkMaxTraces)
	}
	p := &ShapeProfile{}
	for t := range int(n) {
		tr, err := decodeShapeTrace(&in)
		if err != nil {
			return nil, fmt.Errorf("%w: trace %d: %w", errShapeLink, t+1, err)
		}
		p.traces = append(p.traces, tr)
	}
	if !in.Empty() {
		return nil, fmt.Errorf("%w: %d bytes after the last trace", errShapeLink, len(in))
	}
	return p, nil
}

// decodeShapeTrace reads one trace of the link form and checks it as a
// text profile's line (parseShapeTrace).
func decodeShapeTrace(in *cryptobyte.String) ([]shapeRecord, error) {
	var count uint8
	if !in.ReadUint8(&count) || count == 0 || int(count) > shapeTraceMaxLen {
		return nil, fmt.Errorf("record count %d, 1..%d allowed", count, shapeTraceMaxLen)
	}
	var tr []shapeRecord
	var at time.Duration
	for range int(count) {
		v, ok1 := readUvarint(in, shapeRecordMost<<1|1)
		gap, ok2 := readUvarint(in, uint64(shapeTraceMaxDelay/time.Millisecond))
		if !ok1 || !ok2 {
			return nil, errors.New("a record cut short or out of range")
		}
		at += time.Duration(gap) * time.Millisecond
		tr = append(tr, shapeRecord{up: v&1 == 1, size: int(v >> 1), at: at})
	}
	return parseShapeTrace(traceText(tr))
}

// readUvarint reads a uvarint of at most most from in.
func readUvarint(in *cryptobyte.String, most uint64) (uint64, bool) {
	v, n := binary.Uvarint(*in)
	if n <= 0 || v > most {
		return 0, false
	}
	in.Skip(n)
	return v, true
}

// traceText writes a trace as a line of the text form.
func traceText(tr []shapeRecord) string {
	var b strings.Builder
	for i, r := range tr {
		if i > 0 {
			b.WriteByte(' ')
		}
		dir := 'S'
		if r.up {
			dir = 'C'
		}
		fmt.Fprintf(&b, "%c%d@%d", dir, r.size, r.at/time.Millisecond)
	}
	return b.String()
}
