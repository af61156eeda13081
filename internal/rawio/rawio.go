// Package rawio reads and writes a socket with raw system calls, outside
// the Go scheduler's syscall bookkeeping, for a forwarder that handles a
// message and waits again (docs/benchmarks.md, "Relay round trips behind
// nginx, session 8").
//
// A Go system call through package syscall (what net.Conn's Read and Write
// use) enters the scheduler's syscall state, and when the process was idle
// (every P idle, the runtime's sysmon thread asleep) that wakes sysmon: one
// more thread wake-up per forwarded message. On the test machine's VM a
// wake-up is the dearest part of a message's way through a process. A
// socket under Go's netpoller is non-blocking, so read(2) and write(2) on
// it return at once (data, or EAGAIN, on which the netpoller waits as for
// any conn), and may run as raw system calls, which skip that state.
package rawio

import "net"

// Wrap returns c reading and writing with raw system calls when it is a
// *net.TCPConn or *net.UnixConn on Linux; otherwise c itself.
func Wrap(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return wrap(c)
	}
	return c
}
