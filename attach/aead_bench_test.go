package attach

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"hash"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkChunkAEAD compares the two AEADs an attachment could name on
// one 256 KiB chunk, sealed in place (docs/spec/attachments.md §2.1):
// go test ./attach -run '^$' -bench ChunkAEAD
func BenchmarkChunkAEAD(b *testing.B) {
	key := make([]byte, 32)
	chacha, _ := chacha20poly1305.New(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	for _, c := range []struct {
		name string
		aead cipher.AEAD
	}{{"chacha20poly1305", chacha}, {"aes256gcm", gcm}} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, ChunkSize, ChunkSize+Overhead)
			nonce := make([]byte, c.aead.NonceSize())
			b.SetBytes(ChunkSize)
			for b.Loop() {
				c.aead.Seal(buf[:0], nonce, buf, nil)
			}
		})
	}
}

// BenchmarkAddressHash measures the hashes of the standard library and
// x/crypto that could name a chunk (its address, §2), over one sealed
// chunk: the address is the per-byte cost that keeps the upload from 0.8
// of curl+nginx (docs/benchmarks.md, "Files on a quiet machine, session
// 11"), and SHA-256 is the fastest of them on SHA-NI hardware.
// Run: go test ./attach -run '^$' -bench AddressHash
func BenchmarkAddressHash(b *testing.B) {
	for _, c := range []struct {
		name string
		h    func() hash.Hash
	}{
		{"sha256", sha256.New},
		{"sha512_256", sha512.New512_256},
		{"blake2b_256", func() hash.Hash { h, _ := blake2b.New256(nil); return h }},
		{"blake2s_256", func() hash.Hash { h, _ := blake2s.New256(nil); return h }},
		{"sha3_256", func() hash.Hash { return sha3.New256() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, ChunkSize+Overhead)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h := c.h()
				h.Write(buf)
				h.Sum(nil)
			}
		})
	}
}
