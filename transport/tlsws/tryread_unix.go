//go:build unix

package tlsws

import (
	"errors"
	"syscall"
)

// tryRead reads what the kernel already holds for rc into p, with one
// read(2) and no waiting: 0 when nothing is there (or the read failed; the
// next blocking read finds the error).
func tryRead(rc syscall.RawConn, p []byte) int {
	n := 0
	err := rc.Read(func(fd uintptr) bool {
		var rerr error
		n, rerr = syscall.Read(int(fd), p)
		if rerr != nil && !errors.Is(rerr, syscall.EAGAIN) {
			n = 0
		}
		return true // one attempt: never wait for readiness
	})
	if err != nil || n < 0 {
		return 0
	}
	return n
}
