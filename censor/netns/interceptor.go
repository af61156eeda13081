package netns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/samizdat-project/samizdat/censor"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h): getsockopt at
// level SOL_IP on a redirected socket returns its pre-NAT destination.
const soOriginalDst = 80

// Interceptor is the censor's transparent proxy in the censor namespace:
// it accepts the flows nftables redirects to it and runs the current engine
// on each.
type Interceptor struct {
	topo   *Topology
	ln     net.Listener
	engine atomic.Pointer[censor.Engine]

	mu      sync.Mutex // guards flows, closed
	flows   map[net.Conn]context.CancelFunc
	closed  bool
	wg      sync.WaitGroup
	flowsN  atomic.Int64
	errorsN atomic.Int64
}

// StartInterceptor listens on the topology's intercept port in the censor
// namespace and serves until Close.
func (t *Topology) StartInterceptor(e *censor.Engine) (*Interceptor, error) {
	ln, err := t.Listen("", "tcp4", "0.0.0.0:"+strconv.Itoa(t.InterceptPort))
	if err != nil {
		return nil, fmt.Errorf("netns: interceptor: %w", err)
	}
	in := &Interceptor{topo: t, ln: ln, flows: map[net.Conn]context.CancelFunc{}}
	in.engine.Store(e)
	in.wg.Add(1)
	go in.serve()
	return in, nil
}

// SetEngine makes later flows use e (flows in progress keep theirs; see
// ResetFlows).
func (in *Interceptor) SetEngine(e *censor.Engine) { in.engine.Store(e) }

// Engine returns the engine new flows use.
func (in *Interceptor) Engine() *censor.Engine { return in.engine.Load() }

// ResetFlows ends every flow in progress: both sides see their connection
// close, as when a censor box comes up or goes down mid-flow.
func (in *Interceptor) ResetFlows() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, cancel := range in.flows {
		cancel()
	}
	return len(in.flows)
}

// Flows is how many flows were intercepted, and how many failed to reach
// their destination.
func (in *Interceptor) Flows() (total, failed int64) { return in.flowsN.Load(), in.errorsN.Load() }

// Close stops accepting, ends every flow and waits for them.
func (in *Interceptor) Close() error {
	err := in.ln.Close()
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.ResetFlows()
	in.wg.Wait()
	return err
}

func (in *Interceptor) serve() {
	defer in.wg.Done()
	for {
		c, err := in.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			c.Close()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		in.flows[c] = cancel
		in.wg.Add(1)
		in.mu.Unlock()
		go in.handle(ctx, c)
	}
}

func (in *Interceptor) handle(ctx context.Context, c net.Conn) {
	defer in.wg.Done()
	defer func() {
		in.mu.Lock()
		if cancel := in.flows[c]; cancel != nil {
			cancel()
		}
		delete(in.flows, c)
		in.mu.Unlock()
	}()
	in.flowsN.Add(1)
	dst, err := OriginalDst(c)
	if err != nil {
		in.errorsN.Add(1)
		c.Close()
		return
	}
	src, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		in.errorsN.Add(1)
		c.Close()
		return
	}
	key := censor.FlowKey{Client: src, Server: dst}
	dial := func(ctx context.Context) (net.Conn, error) {
		return in.topo.DialContext(ctx, "", "tcp4", dst.String())
	}
	if err := in.engine.Load().Intercept(ctx, key, c, dial); err != nil {
		in.errorsN.Add(1)
	}
}

// OriginalDst returns the destination a redirected TCP conn had before
// nftables' redirect (getsockopt SOL_IP, SO_ORIGINAL_DST).
func OriginalDst(c net.Conn) (netip.AddrPort, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return netip.AddrPort{}, errors.New("netns: original destination: not a TCP conn")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var sa unix.RawSockaddrInet4
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(sa))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, soOriginalDst,
			uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			serr = errno
		}
	})
	if cerr != nil {
		return netip.AddrPort{}, cerr
	}
	if serr != nil {
		return netip.AddrPort{}, fmt.Errorf("netns: getsockopt SO_ORIGINAL_DST: %w", serr)
	}
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
}
