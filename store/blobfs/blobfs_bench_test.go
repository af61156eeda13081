package blobfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"
)

// BenchmarkPutFile stores a 100 MiB file's chunks (400 of 256 KiB) as the
// server does: up to 32 PutCheckedChunks at once (server.maxPuts), each
// returning once its chunk is durable. One op is the whole file.
func BenchmarkPutFile(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 256<<10)
	rand.Read(data)
	b.SetBytes(400 << 18)
	ctx := context.Background()
	chunks, hashes := make([][]byte, 400), make([][32]byte, 400)
	n := uint64(0)
	for b.Loop() {
		b.StopTimer() // fresh chunks, hashed beforehand as the server does
		for i := range chunks {
			n++
			chunks[i] = binary.BigEndian.AppendUint64(append(chunks[i][:0], data[:len(data)-8]...), n)
			hashes[i] = sha256.Sum256(chunks[i])
		}
		b.StartTimer()
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		for i := range chunks {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.PutCheckedChunk(ctx, hashes[i], chunks[i]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
