package client

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// prefaultHeap leaves n bytes of mapped, written pages free in the Go heap
// for the next allocation of about that size (Argon2's; deriveWrapKey):
// it allocates them, has the kernel populate them in one call
// (MADV_POPULATE_WRITE, Linux 5.14; else one write per page), and frees
// them with a collection.
func prefaultHeap(n int) {
	b := make([]byte, n)
	if unix.Madvise(b, unix.MADV_POPULATE_WRITE) != nil {
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
	}
	runtime.KeepAlive(b)
	runtime.GC()
}

// populate has the kernel map and write b's pages in one call
// (MADV_POPULATE_WRITE) instead of a fault per page at first use; it does
// nothing where that is not supported.
func populate(b []byte) { unix.Madvise(b, unix.MADV_POPULATE_WRITE) }
