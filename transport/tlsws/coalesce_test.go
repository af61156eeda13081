package tlsws

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateConn is the client's TCP conn: it counts the TLS records and the
// writes going out, and while shut its Writes wait (a peer that does not
// read, a full send buffer).
type gateConn struct {
	net.Conn
	mu      sync.Mutex
	gate    chan struct{} // non-nil: shut until closed
	waiting atomic.Int32  // Writes waiting at the gate
	scan    recordScanner // Writes come one at a time (crypto/tls's out lock)
	records atomic.Int64
	writes  atomic.Int64
}

func (g *gateConn) shut() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gateConn) open() {
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
}

func (g *gateConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		g.waiting.Add(1)
		<-gate
		g.waiting.Add(-1)
	}
	g.writes.Add(1)
	for b := p; len(b) > 0; {
		n, ended := g.scan.scan(b)
		if ended {
			g.records.Add(1)
		}
		b = b[n:]
	}
	return g.Conn.Write(p)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// wsPair returns the two ends of a tunnel over TLS on loopback TCP, built
// as the dialer and the website mode build theirs, without the opening's
// replay.
func wsPair(t *testing.T) (client, server *wsConn, g *gateConn) {
	t.Helper()
	cc, sc := tcpPair(t)
	cert, err := SelfSigned("pair.test")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		cork := &corkConn{Conn: sc}
		tc := tls.Server(cork, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		server = newWSConn(tc, cork, tc, false)
		done <- nil
	}()
	g = &gateConn{Conn: cc}
	cork := &corkConn{Conn: g}
	tc := tls.Client(cork, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	client = newWSConn(tc, cork, tc, true)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server, g
}

// readN reads n bytes from c in the background.
func readN(c net.Conn, n int) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		k, _ := io.ReadFull(c, b)
		out <- b[:k]
	}()
	return out
}

func TestWritesMergeUnderBackpressure(t *testing.T) {
	client, server, g := wsPair(t)
	const n = 200
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100) }

	// Unmerged: one send after another.
	got := readN(server, n*100)
	before := g.records.Load()
	for i := range n {
		if _, err := client.sendData(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	idleRecords := g.records.Load() - before
	<-got

	// Under backpressure: one Write stuck in the kernel, n more behind it.
	got = readN(server, (n+1)*100)
	before, beforeWrites := g.records.Load(), g.writes.Load()
	g.shut()
	var wg sync.WaitGroup
	wg.Go(func() { client.Write(msg(255)) })
	for g.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := client.Write(msg(i))
			errs <- err
		})
	}
	// Until all n wait behind it (or, were they not queued, a while).
	for wait := time.Now().Add(2 * time.Second); time.Now().Before(wait); {
		client.wq.mu.Lock()
		waiting := client.wq.queued - client.wq.sent
		client.wq.mu.Unlock()
		if waiting == n*100 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	records, writes := g.records.Load()-before, g.writes.Load()-beforeWrites
	t.Logf("%d Writes of 100 bytes: unmerged %d records; under backpressure %d records in %d writes to TCP", n+1, idleRecords, records, writes)
	if idleRecords != n {
		t.Errorf("unmerged sends made %d records, want one each (%d)", idleRecords, n)
	}
	if records > 3 || writes > 3 {
		t.Errorf("under backpressure: %d records in %d TCP writes, want at most 3 (the stuck one and the merged rest)", records, writes)
	}
	data := <-got
	counts := map[byte]int{}
	for _, b := range data {
		counts[b]++
	}
	for i := range n {
		if counts[byte(i)] != 100 {
			t.Fatalf("writer %d: %d bytes arrived, want 100", i, counts[byte(i)])
		}
	}
	if counts[255] != 100 || !bytes.Equal(data[:100], msg(255)) {
		t.Fatalf("the Write sent first did not arrive first, whole")
	}
}

func TestIdleWriteNotDelayed(t *testing.T) {
	client, server, g := wsPair(t)
	go io.Copy(server, server) // echo
	msg, back := make([]byte, 100), make([]byte, 100)

	// On an idle conn the record is out when Write returns: no goroutine
	// or timer sends it later.
	for range 20 {
		time.Sleep(5 * time.Millisecond) // idle: nothing sent for longer than maxBehindGap
		before := g.records.Load()
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if r := g.records.Load() - before; r != 1 {
			t.Fatalf("an idle Write returned with %d records sent, want 1", r)
		}
		if _, err := io.ReadFull(client, back); err != nil {
			t.Fatal(err)
		}
	}

	// Round trips through Write and through the unmerged send, taking turns.
	var merged, direct []time.Duration
	for i := range 400 {
		send, into := client.Write, &merged
		if i%2 == 1 {
			send, into = client.sendData, &direct
		}
		start := time.Now()
		if _, err := send(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, back); err != nil {
			t.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}
	m, d := medianDuration(merged), medianDuration(direct)
	t.Logf("round trip median: Write %v, unmerged send %v", m, d)
	// Loose, for a loaded machine: a timer or a goroutine hop per Write
	// would show as a multiple, not a few percent.
	if m > 2*d+200*time.Microsecond {
		t.Errorf("idle Writes are delayed: round trip median %v, unmerged %v", m, d)
	}
}

// TestSingleWriterStreamMerges: a writer that is back before its last
// send would have taken writes behind, and its Writes merge; Close sends
// what was queued before the close frame.
func TestSingleWriterStreamMerges(t *testing.T) {
	client, server, g := wsPair(t)
	const n = 5000
	received := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		received <- b
	}()
	before := g.records.Load()
	m := make([]byte, 100)
	for i := range n {
		binary.BigEndian.PutUint32(m, uint32(i))
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	client.Close()
	data := <-received
	records := g.records.Load() - before
	t.Logf("%d back-to-back Writes of 100 bytes from one goroutine: %d records", n, records)
	if len(data) != n*100 {
		t.Fatalf("%d bytes arrived, want %d", len(data), n*100)
	}
	for i := range n {
		if binary.BigEndian.Uint32(data[i*100:]) != uint32(i) {
			t.Fatalf("message %d out of order", i)
		}
	}
	if records > n/2 {
		t.Errorf("%d records for %d back-to-back Writes, want at most %d", records, n, n/2)
	}
}

func medianDuration(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// TestConcurrentWritesAndClose: Writes from several goroutines, the conn
// closed under them; every Write that returned nil arrives whole, each
// writer's in order, and nothing else but a cut-short tail.
func TestConcurrentWritesAndClose(t *testing.T) {
	for round := range 4 {
		client, server, _ := wsPair(t)
		const writers, perWriter = 8, 400
		var ok [writers]atomic.Int64 // Writes that returned nil
		received := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(server)
			received <- b
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for seq := range perWriter {
					m := make([]byte, 7+(seq*37+w*11)%300)
					m[0] = byte(w)
					binary.BigEndian.PutUint32(m[1:], uint32(seq))
					binary.BigEndian.PutUint16(m[5:], uint16(len(m)))
					for i := 7; i < len(m); i++ {
						m[i] = byte(seq + i)
					}
					if _, err := client.Write(m); err != nil {
						if !errors.Is(err, net.ErrClosed) && !isConnBroken(err) {
							t.Errorf("writer %d: %v", w, err)
						}
						return
					}
					ok[w].Add(1)
				}
			})
		}
		time.Sleep(time.Duration(round) * 2 * time.Millisecond)
		client.Close()
		wg.Wait()
		data := <-received
		next := [writers]int64{}
		for len(data) >= 7 {
			w, seq, size := int(data[0]), int64(binary.BigEndian.Uint32(data[1:])), int(binary.BigEndian.Uint16(data[5:]))
			if w >= writers || seq != next[w] || size < 7 {
				t.Fatalf("round %d: message from writer %d seq %d (size %d), want seq %d: lost or reordered", round, w, seq, size, next[w])
			}
			if len(data) < size {
				break // cut short by the close
			}
			for i := 7; i < size; i++ {
				if data[i] != byte(int(seq)+i) {
					t.Fatalf("round %d: writer %d seq %d corrupted", round, w, seq)
				}
			}
			next[w]++
			data = data[size:]
		}
		for w := range writers {
			if next[w] < ok[w].Load() {
				t.Fatalf("round %d: writer %d: %d Writes returned nil, %d arrived", round, w, ok[w].Load(), next[w])
			}
		}
		t.Logf("round %d: %v messages arrived of %d", round, next, writers*perWriter)
	}
}

// isConnBroken reports an error of a Write cut off by Close tearing the
// TCP conn down.
func isConnBroken(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) || errors.Is(err, io.ErrClosedPipe)
}

// TestReadReturnsWhatArrived: messages that arrived one record each are
// read in a few Reads, not one each; over TLS, and over plain TCP (behind
// a web server).
func TestReadReturnsWhatArrived(t *testing.T) {
	t.Run("tls", func(t *testing.T) {
		client, server, _ := wsPair(t) // the server reads: its TCP conn is unwrapped
		readsOfBurst(t, client, server)
	})
	t.Run("plain", func(t *testing.T) {
		a, b := tcpPair(t)
		client, server := newWSConn(a, a, a, true), newWSConn(b, b, b, false)
		t.Cleanup(func() { client.Close(); server.Close() })
		readsOfBurst(t, client, server)
	})
}

func readsOfBurst(t *testing.T, client, server *wsConn) {
	const n = 200
	// A first exchange, so that reading is record-aligned from the start
	// of the burst.
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := client.Write(bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // all of it in the server's kernel
	buf := make([]byte, 64<<10)
	var got []byte
	reads := 0
	for len(got) < n*100 {
		k, err := server.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
		reads++
	}
	t.Logf("%d messages of 100 bytes, one record each, read in %d Reads", n, reads)
	for i := range n {
		if !bytes.Equal(got[i*100:(i+1)*100], bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("message %d corrupted or out of order", i)
		}
	}
	if reads > n/10 {
		t.Errorf("%d Reads for %d messages already received, want at most %d", reads, n, n/10)
	}
}

// TestCloseReleasesWriterWaitingForRoom: a Write waiting for room behind a
// stuck write-behind flush returns at Close, not when the flush gives up.
func TestCloseReleasesWriterWaitingForRoom(t *testing.T) {
	client, server, g := wsPair(t)
	go io.Copy(io.Discard, server)
	m := make([]byte, 1000)
	for !client.wq.behind() { // back-to-back Writes until they write behind
		if _, err := client.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	g.shut()
	defer g.open()
	returned := make(chan error, 1)
	go func() {
		for {
			if _, err := client.Write(m); err != nil {
				returned <- err
				return
			}
		}
	}()
	for g.waiting.Load() == 0 { // the flush is stuck; the queue fills behind it
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	client.Close()
	select {
	case err := <-returned:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the waiting Write returned %v, want net.ErrClosed", err)
		}
		t.Logf("the waiting Write returned %v after Close", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("a Write waiting for room was still blocked 2 s after Close")
	}
}
