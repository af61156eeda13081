package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/loadgen"
	"github.com/samizdat-project/samizdat/wire"
)

// errDone ends a test's session.
var errDone = errors.New("the test is done with the session")

// crashBlob is chunk i of TestCrashChunksAcknowledged: 64 KiB set by i and
// the run's seed.
func crashBlob(seed uint64, i int) []byte {
	b := make([]byte, 64<<10)
	for j := 0; j < len(b); j += 8 {
		binary.BigEndian.PutUint64(b[j:], seed^uint64(i)<<32^uint64(j))
	}
	return b
}

// TestCrashChunksAcknowledged: a client stores chunks on a real server
// process, 32 PutChunks at a time; the server is killed with SIGKILL in
// the middle of the stream and restarted on the same data directory, three
// times. Afterwards the server serves, byte-identical, every chunk it
// answered ChunkStored for (the blob store's durability promise across
// crashes; docs/spec/attachments.md §5.2).
func TestCrashChunksAcknowledged(t *testing.T) {
	_, srv := tempServer(t)
	link, err := client.ParseServerLink(srv.link)
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	var mu sync.Mutex
	acked := map[int][32]byte{}
	var next atomic.Int64
	for cycle := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := loadgen.DialNewDevice(ctx, link)
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1))
					d := crashBlob(seed, i)
					h := sha256.Sum256(d)
					if _, err := s.Call(ctx, &wire.PutChunk{Hash: h, Data: d}); err != nil {
						return // the kill
					}
					mu.Lock()
					acked[i] = h
					mu.Unlock()
				}
			})
		}
		before := len(acked)
		if !e2etest.WaitFor(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= before+64 }) {
			t.Fatalf("cycle %d: the server acknowledged %d chunks in 30 s", cycle, len(acked)-before)
		}
		time.Sleep(time.Duration(20+rand.IntN(200)) * time.Millisecond)
		srv.Kill()
		wg.Wait()
		cancel()
		s.End(errDone)
		srv = srv.restart(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := loadgen.DialNewDevice(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	defer s.End(errDone)
	for i, h := range acked {
		resp, err := s.Call(ctx, &wire.GetChunk{Hash: h})
		if err != nil {
			t.Fatalf("chunk %d, acknowledged before a kill: %v", i, err)
		}
		if c, ok := resp.(*wire.Chunk); !ok || !bytes.Equal(c.Data, crashBlob(seed, i)) {
			t.Fatalf("chunk %d, acknowledged before a kill, came back other bytes", i)
		}
	}
	t.Logf("%d chunks acknowledged over 3 kills, all served byte-identical", len(acked))
}
