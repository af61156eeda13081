package server_test

import (
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/blobfs"
	"github.com/samizdat-project/samizdat/wire"
)

// startRateBlobServer is a blob server with rate limits r on a clock that
// never moves (no bucket refills during the test).
func startRateBlobServer(t *testing.T, r server.RateLimits) *testServer {
	t.Helper()
	bs, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return startServer(t, func(c *server.Config) {
		c.Blobs = bs
		c.Now = func() time.Time { return now }
		c.RateLimits = r
	})
}

// TestBlobTransferNotHeldToRequestRate: with the default limits a device
// uploads and downloads a file of more chunks than its request bucket
// holds, and is not refused. Before chunk requests had their own buckets,
// the 501st chunk of the session was refused with RateLimited: a second
// 100 MiB file within a minute went at 50 chunks/s (12.5 MiB/s), which the
// files benchmark showed as uploads of 4-6 s for 1 s of CPU.
func TestBlobTransferNotHeldToRequestRate(t *testing.T) {
	ts := startRateBlobServer(t, server.DefaultRateLimits)
	c := connect(t, ts, newIdentity(newAccount()))
	n := server.DefaultRateLimits.RequestsPerDevice.Burst + 100
	hashes := make([]wire.ChunkHash, n)
	for i := range n {
		data := binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(i))
		hashes[i] = sha256.Sum256(data)
		c.must(&wire.PutChunk{Hash: hashes[i], Data: data}, wire.TypeChunkStored)
	}
	for _, h := range hashes {
		c.must(&wire.GetChunk{Hash: h}, wire.TypeChunk)
	}
	c.must(&wire.Ping{}, wire.TypePong) // the messages' bucket is untouched
}

// TestAdversaryChunkFlood: chunk requests are still limited, by their own
// buckets: a device that floods them is refused with RateLimited once its
// chunk bucket is empty, and its other requests are still served.
func TestAdversaryChunkFlood(t *testing.T) {
	r := server.DefaultRateLimits
	r.ChunksPerDevice = server.Rate{PerSecond: 1, Burst: 8}
	ts := startRateBlobServer(t, r)
	c := connect(t, ts, newIdentity(newAccount()))
	for i := range 8 {
		c.wantError(&wire.GetChunk{Hash: sha256.Sum256([]byte{byte(i)})}, wire.CodeNotFound)
	}
	e := c.wantError(&wire.GetChunk{Hash: sha256.Sum256([]byte("probe"))}, wire.CodeRateLimited)
	if e.RetryAfter != 1 {
		t.Errorf("RetryAfter %d, want 1 (one token at 1/s)", e.RetryAfter)
	}
	data := []byte("a chunk")
	c.wantError(&wire.PutChunk{Hash: sha256.Sum256(data), Data: data}, wire.CodeRateLimited)
	c.must(&wire.Ping{}, wire.TypePong)

	// The address's chunk bucket holds many devices from one address.
	r.ChunksPerDevice, r.ChunksPerIP = server.Rate{}, server.Rate{PerSecond: 1, Burst: 8}
	ts = startRateBlobServer(t, r)
	for i := range 9 {
		c := connect(t, ts, newIdentity(newAccount()))
		code := wire.CodeNotFound
		if i == 8 {
			code = wire.CodeRateLimited
		}
		c.wantError(&wire.GetChunk{Hash: sha256.Sum256([]byte{byte(i)})}, code)
	}
}
