package server_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// BenchmarkServeChunks fetches 64 chunks of 256 KiB (16 MiB) from a blobfs
// server over one session, 32 GetChunks in flight, as a download does: the
// server's GetChunk path (store read, CRC-32C, frame, seal, write) and a
// minimal client (its channel's open) in one process, for a CPU profile:
// go test ./server -run '^$' -bench ServeChunks -benchtime 20x -cpuprofile /tmp/serve.cpu
func BenchmarkServeChunks(b *testing.B) {
	ts, _ := startBlobServer(b, nil)
	c := connect(b, ts, newIdentity(newAccount()))
	const chunks, inFlight = 64, 32
	var hashes []wire.ChunkHash
	for i := range chunks {
		data := make([]byte, 256<<10+16)
		for j := range data {
			data[j] = byte(i + j*31)
		}
		h := wire.ChunkHash(sha256.Sum256(data))
		c.must(&wire.PutChunk{Hash: h, Data: data}, wire.TypeChunkStored)
		hashes = append(hashes, h)
	}
	// The fetching session reads answers raw (header only, buffers given
	// back), so that the profile is the server's, not a decoder's.
	sc, err := handshake(ts, newIdentity(newAccount()), 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	id := uint32(0)
	call := func(m wire.Message) {
		id++
		frame, err := wire.Encode(wire.Frame{RequestID: id, Msg: m})
		if err != nil {
			b.Fatal(err)
		}
		if err := sc.Send(frame); err != nil {
			b.Fatal(err)
		}
	}
	answer := func(want wire.Type) {
		msg, err := sc.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if h, err := wire.ParseHeader(msg); err != nil || h.Type != want {
			b.Fatalf("answered %v (%v), want %v", h.Type, err, want)
		}
		securechan.ReleaseMessage(msg)
	}
	call(&wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version})
	answer(wire.TypeServerHello)
	b.SetBytes(chunks * (256<<10 + 16))
	for b.Loop() {
		sent, got := 0, 0
		for got < chunks {
			for sent < chunks && sent-got < inFlight {
				call(&wire.GetChunk{Hash: hashes[sent]})
				sent++
			}
			answer(wire.TypeChunk)
			got++
		}
	}
}
