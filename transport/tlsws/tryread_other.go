//go:build !unix

package tlsws

import "syscall"

// tryRead has no non-blocking read here: nothing is read.
func tryRead(syscall.RawConn, []byte) int { return 0 }
