package attach

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"

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
