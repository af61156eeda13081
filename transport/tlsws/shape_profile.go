package tlsws

import (
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The opening profile (docs/spec/transports.md, "tlsws: the opening's
// shape"): the first application-data records of Chromium's connections
// while it loads the shape test's cover site, one connection a line, each
// record written as C (client to server) or S, its TLS record length, @
// and its time in milliseconds (to the microsecond: a server's answer
// comes within one) after the connection's first application-data
// record. A tunnel opening replays one of
// them. Refresh from the installed Chromium with
//
//	go test ./transport/tlsws -run TestShapeClassifier -update-shape-profile
//
//go:embed chrome_shape_profile.txt
var shapeProfileText string

// shapeRecord is one record of a profile trace.
type shapeRecord struct {
	up   bool          // client to server
	size int           // TLS record length (the 5-byte header excluded)
	at   time.Duration // after the trace's first record

	peerSince int           // the peer's records the replay waits for first (splitTrace)
	predPeer  bool          // the record before it in the trace is the peer's
	gap       time.Duration // after the record before it in the trace
}

// Limits a profile line must keep: a record must hold a frame header and
// TLS's overhead, and fit in one TLS record; a trace must start with the
// client's request and hold a server record.
const (
	tlsRecordOverhead  = 17                        // TLS 1.3: content type and AEAD tag
	shapeRecordLeast   = tlsRecordOverhead + 8 + 1 // a client frame's longest header here: 2 + 2 + mask
	shapeRecordMost    = 16384 + tlsRecordOverhead
	shapeTraceMaxLen   = 64
	shapeTraceMaxDelay = 2 * time.Second
)

// shapeTraceSet is a profile's traces: the built-in one (shapeTraces) or
// one recorded from the relay's own cover site (ShapeProfile).
type shapeTraceSet [][]shapeRecord

// parseShapeProfile reads the profile text: one trace a line, # comments.
func parseShapeProfile(text string) (shapeTraceSet, error) {
	var traces shapeTraceSet
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tr, err := parseShapeTrace(line)
		if err != nil {
			return nil, fmt.Errorf("tlsws: shape profile line %d: %w", n+1, err)
		}
		traces = append(traces, tr)
	}
	if len(traces) == 0 {
		return nil, fmt.Errorf("tlsws: shape profile: no trace")
	}
	return traces, nil
}

func parseShapeTrace(line string) ([]shapeRecord, error) {
	fields := strings.Fields(line)
	if len(fields) > shapeTraceMaxLen {
		return nil, fmt.Errorf("%d records, at most %d", len(fields), shapeTraceMaxLen)
	}
	var tr []shapeRecord
	server := false
	for _, f := range fields {
		sz, at, ok := strings.Cut(f, "@")
		if !ok || len(sz) < 2 || (sz[0] != 'C' && sz[0] != 'S') {
			return nil, fmt.Errorf("record %q: want C or S, a size, @ and milliseconds", f)
		}
		size, err := strconv.Atoi(sz[1:])
		when, ok := parseMillis(at)
		if err != nil || !ok || size < shapeRecordLeast || size > shapeRecordMost {
			return nil, fmt.Errorf("record %q: size %d..%d and a time of 0 ms or more (at most 3 decimals)", f, shapeRecordLeast, shapeRecordMost)
		}
		r := shapeRecord{up: sz[0] == 'C', size: size, at: when}
		if len(tr) > 0 && r.at < tr[len(tr)-1].at || r.at > shapeTraceMaxDelay {
			return nil, fmt.Errorf("record %q: times must not go back nor pass %v", f, shapeTraceMaxDelay)
		}
		server = server || !r.up
		tr = append(tr, r)
	}
	if request, _, _ := splitTrace(tr); len(request) == 0 || !server {
		return nil, fmt.Errorf("a trace holds a client record and a server record")
	}
	return tr, nil
}

// parseMillis reads a record's time: whole milliseconds, or with up to
// three decimals (microseconds); false for anything else.
func parseMillis(s string) (time.Duration, bool) {
	whole, frac, dotted := strings.Cut(s, ".")
	if len(whole) == 0 || len(whole) > 7 || dotted && (len(frac) == 0 || len(frac) > 3) {
		return 0, false
	}
	us := 0
	for _, ch := range whole + (frac + "000")[:3] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		us = 10*us + int(ch-'0')
	}
	return time.Duration(us) * time.Microsecond, true
}

// formatMillis writes d as parseMillis reads it, to the microsecond.
func formatMillis(d time.Duration) string {
	s := strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// shapeTraces is the parsed profile; the package does not build without a
// valid one (TestShapeProfileParses).
var shapeTraces, shapeProfileErr = parseShapeProfile(shapeProfileText)

// shapeOpenings is a variable so that the shape tests can measure the cost
// against unshaped tunnels.
var shapeOpenings = true

// traceFor picks the trace a tunnel replays from its Sec-WebSocket-Key,
// which both ends see, so that both replay the same one. It returns nil
// when shaping is off.
func (s shapeTraceSet) traceFor(wsKey string) []shapeRecord {
	if !shapeOpenings || len(s) == 0 {
		return nil
	}
	return s[s.traceIndex([]byte(wsKey))]
}

// traceIndex maps a seed (a WebSocket key, or the TLS exporter value) to a
// trace of the profile.
func (s shapeTraceSet) traceIndex(seed []byte) int {
	h := sha256.Sum256(append([]byte("samizdat tlsws shape "), seed...))
	return int((uint64(h[0])<<24 | uint64(h[1])<<16 | uint64(h[2])<<8 | uint64(h[3])) % uint64(max(len(s), 1)))
}

// exporterLabel names the TLS exporter value (RFC 8446 §7.5) from which
// a standalone relay and its client pick the trace as their handshake
// ends, before the request: the relay replays its records from the first.
const exporterLabel = "EXPORTER-samizdat-tlsws-shape"

// exporterTraceIndex returns the trace index for an exporter value
// (exportKeyingMaterial of either TLS package), or -1 without one.
func (s shapeTraceSet) exporterTraceIndex(export func(label string, context []byte, length int) ([]byte, error)) int {
	v, err := export(exporterLabel, nil, 32)
	if err != nil {
		return -1
	}
	return s.traceIndex(v)
}

// keyForTrace returns a fresh Sec-WebSocket-Key (16 random bytes, base64)
// that traceFor maps to trace i, so that a relay behind a web server,
// which picks the trace from the key, replays the same one as a
// standalone relay picking it from the exporter. Keys are drawn until one
// fits (len(s) draws on average); i < 0 takes the first.
func (s shapeTraceSet) keyForTrace(i int) string {
	var nonce [16]byte
	for {
		rand.Read(nonce[:])
		key := base64.StdEncoding.EncodeToString(nonce[:])
		if i < 0 || !shapeOpenings || len(s) == 0 || s.traceIndex([]byte(key)) == i {
			return key
		}
	}
}

// requestRecordLeast is the size from which a client record of a trace
// is the page's request: the leading client records up to it (HTTP/2's
// preface and settings, then the request) carry the upgrade request.
const requestRecordLeast = 256

// requestLeadMost bounds how long a client whose trace starts with the
// server's record waits for a standalone relay's preamble, and then as long
// as the trace's client did.
const requestLeadMost = 100 * time.Millisecond

// splitTrace cuts a trace into the client records that carry the upgrade
// request, the client's later records and the server's records. The
// client's times count from its first record, the server's from the last
// request record (the server's replay starts when the request arrived;
// earlier ones at 0). peerSince counts the peer's records before a
// record: for the client all the server's, for the server the client's
// after the request.
func splitTrace(tr []shapeRecord) (request, client, server []shapeRecord) {
	anchor := requestAnchor(tr)
	if anchor < 0 {
		return nil, nil, nil
	}
	first := 0
	for !tr[first].up {
		first++
	}
	for i, r := range tr {
		if r.up {
			r.at -= tr[first].at
		} else {
			r.at = max(r.at-tr[anchor].at, 0)
		}
		if i > 0 {
			r.predPeer, r.gap = tr[i-1].up != r.up, tr[i].at-tr[i-1].at
		}
		r.peerSince = 0
		for j, q := range tr[:i] {
			if q.up != r.up && (r.up || j > anchor) {
				r.peerSince++
			}
		}
		switch {
		case !r.up:
			server = append(server, r)
		case i <= anchor:
			request = append(request, r)
		default:
			client = append(client, r)
		}
	}
	return request, client, server
}

// requestAnchor returns the index of a trace's last request record: the
// first client record of requestRecordLeast bytes or more, else the first
// client record; -1 without one.
func requestAnchor(tr []shapeRecord) int {
	anchor := -1
	for i, r := range tr {
		if r.up && anchor < 0 {
			anchor = i
		}
		if r.up && r.size >= requestRecordLeast {
			return i
		}
	}
	return anchor
}

// serverPreface returns the server's records a trace shows before the
// request's last record (an HTTP/2 server's SETTINGS, and its answers to
// the client's preface), which a standalone relay sends as preamble
// records: peerSince counts the client's records before each, gap and
// predPeer as splitTrace sets them, at from the trace's first record.
func serverPreface(tr []shapeRecord) []shapeRecord {
	var out []shapeRecord
	client := 0
	for i, r := range tr[:max(requestAnchor(tr), 0)] {
		if r.up {
			client++
			continue
		}
		r.peerSince = client
		if i > 0 {
			r.predPeer, r.gap = tr[i-1].up, r.at-tr[i-1].at
		}
		out = append(out, r)
	}
	return out
}

// keepUnderRecordRule makes the client's replay stay under Russia's 2024
// rule as the lab models it (censor.RecordShape: three or more client
// records of at least 411 bytes, header included, early in a flow):
// Chromium's HTTP/1.1 requests to the cover site are 527-666 bytes, so a
// faithful replay trips it as the browser does (191 of 191 profile
// connections). With it set, client records after the second large one
// are cut to 405 bytes (410 on the wire), which a classifier can see
// (docs/spec/transports.md gives both figures).
var keepUnderRecordRule = true

// recordRuleSize is the smallest record (header excluded) the rule counts.
const recordRuleSize = 411 - 5

// underRecordRule returns the trace with the client's records capped as
// keepUnderRecordRule says.
func underRecordRule(tr []shapeRecord) []shapeRecord {
	if !keepUnderRecordRule {
		return tr
	}
	out := append([]shapeRecord{}, tr...)
	large := 0
	for i, r := range out {
		if !r.up || r.size < recordRuleSize {
			continue
		}
		if large == 2 {
			out[i].size = recordRuleSize - 1
			continue
		}
		large++
	}
	return out
}
