package securechan

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowConn counts the writes to its net.Conn and holds each one for a
// moment, as a busy socket would, so that senders pile up behind it.
type slowConn struct {
	net.Conn
	writes atomic.Int64
	hold   time.Duration
	fail   atomic.Bool
}

func (c *slowConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	time.Sleep(c.hold)
	if c.fail.Load() {
		return 0, errors.New("the wire broke")
	}
	return c.Conn.Write(b)
}

// slowPair connects a client whose writes each take hold to a server with
// cfg; both ends are shut down when the test ends.
func slowPair(t *testing.T, cfg ServerConfig, hold time.Duration) (client, server *Conn, slow *slowConn) {
	t.Helper()
	f := newFixture(t, cfg)
	cc, sc := net.Pipe()
	slow = &slowConn{Conn: cc, hold: hold}
	client, server = mustPair(t, f, slow, sc)
	t.Cleanup(func() { shutdown(t, server, client) })
	return client, server, slow
}

func TestConcurrentSendsAreCombined(t *testing.T) {
	client, server, slow := slowPair(t, ServerConfig{}, 5*time.Millisecond)
	before := slow.writes.Load()

	const senders, each = 16, 25
	sendFromMany(t, client, server, senders, each, 1)
	writes := slow.writes.Load() - before
	t.Logf("%d sends went out in %d writes", senders*each, writes)
	// Sixteen senders behind a write that takes 5 ms: most Sends find a
	// write under way and join the next one (typically 25-50 writes; the
	// bound leaves room for a scheduler that lets few of them overlap).
	if writes > senders*each*3/4 {
		t.Errorf("%d sends took %d writes; want them combined into far fewer", senders*each, writes)
	}
}

func TestSendBatchWritesOnce(t *testing.T) {
	client, server, slow := slowPair(t, ServerConfig{Padding: PadToMultiple(256)}, 0)
	errc := make(chan error, 1)
	for _, tc := range []struct {
		name      string
		msgs      [][]byte
		maxWrites int64
	}{
		// Small records share one buffer: one write.
		{"small", [][]byte{[]byte("one"), bytes.Repeat([]byte{2}, 700), {}, []byte("four")}, 1},
		// Whole records each take a buffer of their own: one writev on
		// TCP, a write per buffer on a pipe.
		{"spanning records", [][]byte{[]byte("one"), bytes.Repeat([]byte{2}, 3*maxRecordData+5), []byte("three")}, 5},
	} {
		before := slow.writes.Load()
		go func() { errc <- client.SendBatch(tc.msgs) }()
		for i, want := range tc.msgs {
			got, err := server.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: message %d: got %d bytes, want %d", tc.name, i, len(got), len(want))
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := slow.writes.Load() - before; n > tc.maxWrites {
			t.Errorf("%s: SendBatch of %d messages took %d writes, want at most %d", tc.name, len(tc.msgs), n, tc.maxWrites)
		}
	}
	tooBig := [][]byte{[]byte("fine"), make([]byte, client.MaxMessageSize()+1)}
	if err := client.SendBatch(tooBig); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("SendBatch with an oversize message = %v, want ErrMessageTooLarge", err)
	}
	// Nothing of the refused batch was sent: the next message is next.
	go func() { errc <- client.Send([]byte("after")) }()
	if got, err := server.Recv(); err != nil || string(got) != "after" {
		t.Fatalf("after a refused batch: got %q, %v; want \"after\"", got, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrorReachesEveryWaitingSender(t *testing.T) {
	client, server, slow := slowPair(t, ServerConfig{}, 5*time.Millisecond)
	go func() {
		for {
			if _, err := server.Recv(); err != nil {
				return
			}
		}
	}()
	slow.fail.Store(true)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			if err := client.Send([]byte("doomed")); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 8 {
		t.Fatalf("%d of 8 Sends failed after the write error, want all 8", failed.Load())
	}
	if err := client.Send([]byte("later")); err == nil {
		t.Fatal("a Send after a failed write succeeded; the record stream is broken and must stay failed")
	}
}
