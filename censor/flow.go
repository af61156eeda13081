package censor

import (
	"errors"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// maxHelloBuffer caps how much of a client stream the engine keeps while
// waiting for a complete ClientHello (a record is at most 2^14 bytes plus
// header; a hello spanning records stays well under this).
const maxHelloBuffer = 1 << 16

// HelloState says what the engine knows about a flow's TLS ClientHello.
type HelloState uint8

const (
	// HelloPending: the client's bytes so far are a prefix of a TLS
	// handshake record; the hello is not complete yet.
	HelloPending HelloState = iota
	// HelloParsed: a complete ClientHello was reassembled and parsed.
	HelloParsed
	// HelloNone: the client stream does not start with a ClientHello.
	HelloNone
)

// Flow is one TCP flow as the engine sees it. Rules read it; harnesses call
// Data and Close.
type Flow struct {
	Key    FlowKey
	Opened time.Time

	engine *Engine
	exempt bool

	mu        sync.Mutex // guards the fields below and serializes rule calls
	rules     []FlowRule
	bytes     [2]int64 // bytes seen per direction
	segments  [2]int
	first     []byte // the first client-to-server segment
	dropped   [2]bool
	frozen    bool
	reset     bool
	closed    bool
	helloBuf  []byte
	hello     *tlsfingerprint.ClientHello
	helloStat HelloState
}

// Engine returns the engine the flow belongs to.
func (f *Flow) Engine() *Engine { return f.engine }

// Bytes returns how many bytes the flow carried so far in dir, counting the
// segment being judged (rules see the count including it).
func (f *Flow) Bytes(dir Direction) int64 { return f.bytes[dir] }

// Segments returns how many segments were seen in dir, counting the current.
func (f *Flow) Segments(dir Direction) int { return f.segments[dir] }

// FirstClientSegment returns the first client-to-server segment (nil before).
func (f *Flow) FirstClientSegment() []byte { return f.first }

// Hello returns the reassembled ClientHello, if any, and the state of the
// reassembly. Rules call it from Data.
func (f *Flow) Hello() (*tlsfingerprint.ClientHello, HelloState) { return f.hello, f.helloStat }

// feedHello reassembles the client's stream until a complete ClientHello is
// available (it may span segments and even records).
func (f *Flow) feedHello(seg []byte) {
	if f.helloStat != HelloPending {
		return
	}
	f.helloBuf = append(f.helloBuf, seg...)
	h, err := tlsfingerprint.ParseRecords(f.helloBuf)
	switch {
	case err == nil:
		f.hello, f.helloStat, f.helloBuf = h, HelloParsed, nil
	case errors.Is(err, tlsfingerprint.ErrIncomplete) && len(f.helloBuf) < maxHelloBuffer:
	default:
		f.helloStat, f.helloBuf = HelloNone, nil
	}
}

// Data judges one segment. The caller delivers seg (or its first Keep bytes
// if Stall) after Delay when the verdict is Pass, discards it on Drop, and
// tears the flow down on Reset.
func (f *Flow) Data(dir Direction, seg []byte) Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.exempt || len(seg) == 0: // an empty segment is no data packet
		return Decision{}
	case f.reset:
		return Decision{Verdict: Reset, Rule: "reset"}
	case f.frozen:
		return Decision{Verdict: Drop, Rule: "stall"}
	case f.dropped[dir]:
		return Decision{Verdict: Drop, Rule: "black-hole"}
	}
	f.bytes[dir] += int64(len(seg))
	f.segments[dir]++
	if dir == ClientToServer {
		if f.first == nil && len(seg) > 0 {
			f.first = append([]byte(nil), seg...)
		}
		f.feedHello(seg)
	}
	var d Decision
	if f.engine.EndpointBlocked(f.Key.Server) {
		d = Decision{Verdict: Drop, Rule: "endpoint-block"}
	}
	for _, r := range f.rules {
		d = merge(d, r.Data(f, dir, seg))
	}
	switch {
	case d.Verdict == Reset:
		f.reset = true
	case d.Verdict == Drop:
		f.dropped[dir] = true
	case d.Stall:
		f.frozen = true
	}
	if d.Verdict != Pass || d.Stall {
		f.engine.Logf(d.Rule, f.Key, "%s segment %d (%d bytes): %s stall=%v keep=%d",
			dir, f.segments[dir], len(seg), d.Verdict, d.Stall, d.Keep)
	}
	return d
}

// Close ends the flow; later Data calls pass nothing new to rules.
func (f *Flow) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func fingerprintOf(h *tlsfingerprint.ClientHello) (ja3, ja4 string) {
	return h.JA3(), h.JA4()
}
