package tlsws

// The opening's HTTP exchange shaped to a trace's first records: the
// upgrade request padded to the request records, the standalone relay's
// preamble, and the 101 answer padded to the first answer
// (docs/spec/transports.md, "tlsws: the opening's shape"; the replay that
// follows is shape.go).

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"time"
)

// requestRecords returns the upgrade request, its size brought to the
// room of the trace's request records with a cookie (which a site's
// visitors carry in all sizes), and the client's plan: the request
// records, which carry it, then the client's later records (also returned
// alone). Without a trace the plan is empty and the request unpadded.
func requestRecords(req *http.Request, trace []shapeRecord) (head []byte, plan, later []shapeRecord) {
	request, later, _ := splitTrace(trace)
	var bare bytes.Buffer
	req.Write(&bare)
	room := 0
	for _, r := range request {
		room += r.size - tlsRecordOverhead
	}
	n := room - bare.Len() - len("Cookie: sid=\r\n")
	if n <= 0 {
		return bare.Bytes(), append(request, later...), later
	}
	var full bytes.Buffer
	req.Header.Set("Cookie", "sid="+paddingValue(n))
	req.Write(&full)
	if d := full.Len() - room; d != 0 && n-d > 0 { // net/http's own header lines
		req.Header.Set("Cookie", "sid="+paddingValue(n-d))
		full.Reset()
		req.Write(&full)
	}
	return full.Bytes(), append(request, later...), later
}

// A standalone relay speaks first, as an HTTP/2 server does: the server's
// records its trace (picked from the TLS exporter value, both ends hold
// it as the handshake ends) shows before the request go out as preamble
// records (a zero byte, a 16-bit length and that many bytes). The client
// drops them before the 101 answer, which starts with "HTTP/".

// writePreamble sends a preamble in one record of size bytes (TLS
// overhead included).
func writePreamble(w io.Writer, size int) error {
	n := max(size-tlsRecordOverhead, 3)
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[1:], uint16(n-3))
	_, err := w.Write(b)
	return err
}

// sendPreface sends a standalone relay's preamble records (serverPreface
// of its trace): each after the client's records the trace shows before
// it (rc counts them as the HTTP server reads the request, the client's
// Finished first) and as long after the record before it (the client's
// latest, on arrival, or the relay's previous one) as the browser's server
// took; the first server record goes as the handshake ends (start).
func sendPreface(w io.Writer, rc *recordCounter, preface []shapeRecord, start time.Time) error {
	s := &shaper{}
	s.watch(rc)
	defer rc.s.CompareAndSwap(s, nil)
	last := start
	for _, r := range preface {
		want := int64(1 + r.peerSince)
		waitKicked(s.kick, nil, time.Now().Add(requestLeadMost), func() bool { return rc.records.Load() >= want })
		due := last.Add(r.gap)
		if r.predPeer {
			if at, ok := rc.arrival(want); ok {
				due = at.Add(answerGap(r.gap))
			}
		}
		sleepUntil(due, nil)
		if err := writePreamble(w, r.size); err != nil {
			return err
		}
		last = time.Now()
	}
	return nil
}

// skipPreamble drops the preamble records at the head of br, if any.
func skipPreamble(br *bufio.Reader) error {
	for {
		first, err := br.Peek(1)
		if err != nil || first[0] != 0 {
			return err
		}
		head := make([]byte, 3)
		if _, err := io.ReadFull(br, head); err != nil {
			return err
		}
		if _, err = br.Discard(int(binary.BigEndian.Uint16(head[1:]))); err != nil {
			return err
		}
	}
}

// upgradeAnswer returns the 101 answer (RFC 6455 §4.2.2) with a cookie
// whose length makes the answer never end one byte short of a record of
// the server's replay (the pong that fills the rest needs two).
func upgradeAnswer(key string, server []shapeRecord) string {
	base := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + websocketAccept(key) + "\r\n"
	cookie := func(n int) string {
		return base + "Set-Cookie: sid=" + paddingValue(n) + "; Path=/; Secure; HttpOnly\r\n\r\n"
	}
	for n := 8; ; n++ {
		a := cookie(n)
		left := len(a)
		for _, r := range server {
			room := r.size - tlsRecordOverhead
			if left <= room {
				left = room - left
				break
			}
			left -= room
		}
		if left != 1 {
			return a
		}
	}
}
