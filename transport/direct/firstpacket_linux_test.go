//go:build linux

package direct_test

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport/direct"
)

// packetTap records, for each TCP connection to port on the loopback
// interface, the payload of the first data packet the client sent: what a
// censor's first-packet rule reads (one packet, no reassembly).
type packetTap struct {
	fd   int
	port uint16
	mu   sync.Mutex
	// first payload per client port
	first map[uint16][]byte
	done  chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// tapLoopback opens an AF_PACKET socket on lo (root only: testenv skips
// elsewhere and fails under CI).
func tapLoopback(t *testing.T, port uint16) *packetTap {
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM, int(htons(syscall.ETH_P_IP)))
	testenv.Require(t, err, "a packet socket (root)", "run the test as root")
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: lo.Index}); err != nil {
		t.Fatal(err)
	}
	tv := syscall.NsecToTimeval(int64(50 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	tp := &packetTap{fd: fd, port: port, first: map[uint16][]byte{}, done: make(chan struct{})}
	stopped := make(chan struct{})
	go tp.run(stopped)
	t.Cleanup(func() { close(tp.done); <-stopped; syscall.Close(fd) })
	return tp
}

func (tp *packetTap) run(stopped chan struct{}) {
	defer close(stopped)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-tp.done:
			return
		default:
		}
		n, _, err := syscall.Recvfrom(tp.fd, buf, 0)
		if err != nil {
			continue // timeout: look at done again
		}
		src, dst, payload, ok := tcpPayload(buf[:n])
		if !ok || dst != tp.port || len(payload) == 0 {
			continue
		}
		tp.mu.Lock()
		if _, seen := tp.first[src]; !seen {
			tp.first[src] = append([]byte(nil), payload...)
		}
		tp.mu.Unlock()
	}
}

// tcpPayload parses an IPv4 packet carrying TCP.
func tcpPayload(p []byte) (src, dst uint16, payload []byte, ok bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != syscall.IPPROTO_TCP {
		return 0, 0, nil, false
	}
	ihl, total := int(p[0]&0x0f)*4, int(binary.BigEndian.Uint16(p[2:4]))
	if total > len(p) || ihl+20 > total {
		return 0, 0, nil, false
	}
	tcp := p[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4]), tcp[off:], true
}

func (tp *packetTap) firstPacket(c net.Conn) []byte {
	port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		tp.mu.Lock()
		p, ok := tp.first[port]
		tp.mu.Unlock()
		if ok {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// TestAdversaryDirectFirstPacket: a censor learns the first packet of one
// samizdat connection over the direct transport (its length and first two
// bytes) and blocks every later flow whose first packet has the same. It
// used to catch 100 of 100 (always 1,378 bytes beginning 05 60, the secure
// channel's first message padded to a multiple of 256 behind its length).
func TestAdversaryDirectFirstPacket(t *testing.T) {
	ln, err := direct.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tap := tapLoopback(t, uint16(ln.Addr().(*net.TCPAddr).Port))
	go func() { // a server that reads and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, device, _ := ed25519.GenerateKey(nil)
	firstPacket := func() []byte {
		c, err := direct.NewDialer(ln.Addr().String()).Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			// The client's own session setup (client/session.go's padding).
			_, err := client.Handshake(ctx, c, client.SessionConfig{ServerPublic: key.Public(), DeviceKey: device, Padding: securechan.PadToMultiple(256)})
			done <- err
		}()
		p := tap.firstPacket(c)
		cancel()
		if err := <-done; p == nil {
			t.Fatalf("no first packet seen on lo (handshake: %v)", err)
		}
		return p
	}
	learned := firstPacket()
	caught, lengths, prefixes, firsts := 0, map[int]bool{}, map[string]bool{}, map[byte]bool{}
	for range 100 {
		p := firstPacket()
		lengths[len(p)] = true
		firsts[p[0]] = true
		prefixes[fmt.Sprintf("% x", p[:2])] = true
		if len(p) == len(learned) && p[0] == learned[0] && p[1] == learned[1] {
			caught++
		}
	}
	// The first byte is the high byte of the first message's length, so it
	// takes only a few values (0x05-0x08): what a length prefix in the
	// clear still gives away (docs/spec/transports.md, "direct").
	t.Logf("learned: %d bytes beginning % x; of 100 later flows the rule caught %d; %d distinct lengths, %d distinct 2-byte prefixes, %d distinct first bytes",
		len(learned), learned[:2], caught, len(lengths), len(prefixes), len(firsts))
	if caught > 5 {
		t.Errorf("a rule on the first packet's length and first two bytes caught %d of 100 flows", caught)
	}
	if len(lengths) < 50 || len(prefixes) < 50 {
		t.Errorf("first packets of 100 flows: %d lengths, %d prefixes; want at least 50 of each", len(lengths), len(prefixes))
	}
}
