package tlsws

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
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
	// verify holds, for each trace, how long the browser took to check
	// the certificate: from the server's handshake flight to its own
	// Finished. A dialer waits as long (drawn from them) before its
	// Finished; 0 where the profile does not say (the built-in one).
	verify []time.Duration
}

// ParseShapeProfile reads a profile in the text form of
// chrome_shape_profile.txt (what `samizdat relay record-shape` writes),
// where a line may start with V and the certificate check's milliseconds
// (shaperecord.Connection.Verify).
func ParseShapeProfile(text []byte) (*ShapeProfile, error) {
	lines := strings.Split(string(text), "\n")
	var verify []time.Duration
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var v time.Duration
		if first, rest, _ := strings.Cut(line, " "); strings.HasPrefix(first, "V") {
			ms, err := strconv.Atoi(first[1:])
			if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > shapeTraceMaxDelay {
				return nil, fmt.Errorf("tlsws: shape profile line %d: %q: want V and 0..%d milliseconds", i+1, first, shapeTraceMaxDelay/time.Millisecond)
			}
			v, lines[i] = time.Duration(ms)*time.Millisecond, rest
		}
		verify = append(verify, v)
	}
	traces, err := parseShapeProfile(strings.Join(lines, "\n"))
	if err != nil {
		return nil, err
	}
	return &ShapeProfile{traces: traces, verify: verify}, nil
}

// verifyDelay draws how long a dialer waits, once the relay's handshake
// flight is in, before its Finished: one of the profile's certificate
// checks (0 for the built-in profile).
func (p *ShapeProfile) verifyDelay() time.Duration {
	if p == nil || len(p.verify) == 0 {
		return 0
	}
	return p.verify[mathrand.IntN(len(p.verify))]
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
//	per trace: uvarint milliseconds of the certificate check (ShapeProfile.verify), u8 record count, 1..shapeTraceMaxLen
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
	out := &ShapeProfile{}
	set := p.set()
	for k := range min(len(set), ShapeLinkTraces) {
		i := k * len(set) / min(len(set), ShapeLinkTraces)
		tr := set[i]
		cut, err := parseShapeTrace(traceText(tr[:min(len(tr), shapeLinkRecords)]))
		if err == nil {
			out.traces = append(out.traces, cut)
			out.verify = append(out.verify, p.verifyOf(i))
		}
	}
	return out
}

// verifyOf returns trace i's certificate check (0 where none is known).
func (p *ShapeProfile) verifyOf(i int) time.Duration {
	if p == nil || i >= len(p.verify) {
		return 0
	}
	return p.verify[i]
}

// EncodeLink returns the link form of p (all of it: call ForLink first).
func (p *ShapeProfile) EncodeLink() string {
	var b cryptobyte.Builder
	b.AddUint8(shapeLinkVersion)
	set := p.set()
	b.AddUint8(uint8(min(len(set), ShapeLinkMaxTraces)))
	for i, tr := range set[:min(len(set), ShapeLinkMaxTraces)] {
		b.AddBytes(binary.AppendUvarint(nil, uint64(p.verifyOf(i)/time.Millisecond)))
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
		v, ok := readUvarint(&in, uint64(shapeTraceMaxDelay/time.Millisecond))
		if !ok {
			return nil, fmt.Errorf("%w: trace %d: no certificate check of 0..%d ms", errShapeLink, t+1, shapeTraceMaxDelay/time.Millisecond)
		}
		tr, err := decodeShapeTrace(&in)
		if err != nil {
			return nil, fmt.Errorf("%w: trace %d: %w", errShapeLink, t+1, err)
		}
		p.traces = append(p.traces, tr)
		p.verify = append(p.verify, time.Duration(v)*time.Millisecond)
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
