// Package netns builds the lab's network-namespace topology and runs the
// censor's transparent interceptor in it: one namespace per client, one
// censor namespace that routes between every other namespace, and one
// namespace per host (server, relays, cover website), each joined to the
// censor namespace by a veth pair. In the censor namespace an nftables
// `nat prerouting` rule redirects every TCP flow that arrives from a client
// interface to a local port, where the interceptor reads the original
// destination (SO_ORIGINAL_DST), dials it from the censor namespace and hands
// the pair to censor.Engine.Intercept.
//
// Every namespace and interface name carries a random per-run id, so
// parallel runs never collide, and Close deletes everything the run made
// (New cleans up after itself when it fails half-way). Addresses are the
// lab's own (docs/lab.md, 198.18.0.0/15) and exist only inside the run's
// namespaces; nothing leaves them. Building a topology needs root, `ip`
// (iproute2) and `nft` (nftables): see Available.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// CensorAddr is the censor namespace's address on every veth: the next hop
// of every node, the source of the interceptor's and the prober's dials. It
// lies in the censor's own range 198.18.1.0/24 (docs/lab.md), which the
// engine exempts.
var CensorAddr = netip.MustParseAddr("198.18.1.1")

// Role says on which side of the censor a node sits.
type Role uint8

const (
	// Client nodes' TCP flows are redirected to the interceptor.
	Client Role = iota
	// Host nodes (server, relays, cover site) are reached through the censor.
	Host
)

// NodeSpec describes one namespace to create.
type NodeSpec struct {
	Name  string // short label, unique in the topology ("alice", "server")
	Role  Role
	Addrs []netip.Addr // IPv4, the first is the primary address
}

// Node is a created namespace.
type Node struct {
	NodeSpec
	NS string // the namespace's name (ip netns)

	idx int // creation index; veth names depend on it
}

// Topology is one run's set of namespaces.
type Topology struct {
	ID            string // random, in every name
	CensorNS      string
	InterceptPort int
	Nodes         map[string]*Node

	created []string // namespaces to delete, in creation order
}

// Available reports why a topology cannot be built here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: needs root for network namespaces (run it with sudo, or as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("netns: %s not found (apt-get install iproute2 nftables)", tool)
		}
	}
	return nil
}

// New creates the censor namespace and one namespace per node, with routes
// and the interceptor's redirect rule to port interceptPort. On error it
// deletes what it made.
func New(nodes []NodeSpec, interceptPort int) (_ *Topology, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	idb := make([]byte, 3)
	rand.Read(idb)
	t := &Topology{ID: hex.EncodeToString(idb), InterceptPort: interceptPort, Nodes: map[string]*Node{}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	t.CensorNS = "szlab-" + t.ID + "-censor"
	if err := t.addNS(t.CensorNS); err != nil {
		return nil, err
	}
	if err := t.sh(t.CensorNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	t.sh(t.CensorNS, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
	t.sh(t.CensorNS, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
	for i, spec := range nodes {
		if spec.Name == "" || len(spec.Addrs) == 0 || t.Nodes[spec.Name] != nil {
			return nil, fmt.Errorf("netns: node %d: needs a unique name and an address", i)
		}
		n := &Node{NodeSpec: spec, NS: "szlab-" + t.ID + "-" + spec.Name, idx: i}
		if err := t.addNode(n, i); err != nil {
			return nil, err
		}
		t.Nodes[spec.Name] = n
	}
	return t, t.installRedirect()
}

func (t *Topology) addNS(name string) error {
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	t.created = append(t.created, name)
	return t.sh(name, "ip", "link", "set", "lo", "up")
}

// vethNames are the two ends of node i's pair: a in the node, b in the
// censor namespace; at most 15 bytes with the 6-hex-digit id.
func (t *Topology) vethNames(i int) (inNode, inCensor string) {
	return fmt.Sprintf("z%s%da", t.ID, i), fmt.Sprintf("z%s%db", t.ID, i)
}

func (t *Topology) addNode(n *Node, i int) error {
	if err := t.addNS(n.NS); err != nil {
		return err
	}
	a, b := t.vethNames(i)
	if err := run("ip", "link", "add", a, "netns", n.NS, "type", "veth", "peer", "name", b, "netns", t.CensorNS); err != nil {
		return err
	}
	for _, addr := range n.Addrs {
		if !addr.Is4() {
			return fmt.Errorf("netns: node %s: %s is not IPv4", n.Name, addr)
		}
		if err := t.sh(n.NS, "ip", "addr", "add", addr.String()+"/32", "dev", a); err != nil {
			return err
		}
	}
	steps := [][]string{
		{n.NS, "ip", "link", "set", a, "up"},
		{n.NS, "ip", "route", "add", CensorAddr.String() + "/32", "dev", a},
		{n.NS, "ip", "route", "add", "default", "via", CensorAddr.String(), "dev", a, "src", n.Addrs[0].String()},
		{t.CensorNS, "ip", "addr", "add", CensorAddr.String() + "/32", "dev", b},
		{t.CensorNS, "ip", "link", "set", b, "up"},
	}
	for _, addr := range n.Addrs {
		steps = append(steps, []string{t.CensorNS, "ip", "route", "add", addr.String() + "/32", "dev", b})
	}
	for _, s := range steps {
		if err := t.sh(s[0], s[1], s[2:]...); err != nil {
			return err
		}
	}
	return nil
}

// installRedirect hands every TCP flow arriving from a client node's
// interface to the interceptor port.
func (t *Topology) installRedirect() error {
	var ifs []string
	for _, n := range t.Nodes {
		if n.Role == Client {
			_, b := t.vethNames(n.idx)
			ifs = append(ifs, `"`+b+`"`)
		}
	}
	if len(ifs) == 0 {
		return nil
	}
	// The filter chain runs before the redirect (priority -150 < dstnat):
	// what the censor blocks by address never reaches the interceptor, so
	// the client's SYN goes unanswered as behind a real IP blocklist.
	rules := fmt.Sprintf(`table ip szlab {
	set nets {
		type ipv4_addr; flags interval;
	}
	set eps {
		type ipv4_addr . inet_service;
	}
	set udpnets {
		type ipv4_addr; flags interval;
	}
	chain blk {
		type filter hook prerouting priority -150; policy accept;
		iifname { %[1]s } ip daddr @nets drop
		iifname { %[1]s } meta l4proto tcp ip daddr . tcp dport @eps drop
		iifname { %[1]s } meta l4proto udp ip daddr @udpnets drop
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname { %[1]s } meta l4proto tcp redirect to :%[2]d
	}
}
`, strings.Join(ifs, ", "), t.InterceptPort)
	cmd := exec.Command("ip", "netns", "exec", t.CensorNS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns: installing the nftables redirect: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// BlockNets makes the censor namespace drop every packet from a client to
// these prefixes (SYNs included), before the interceptor sees it.
func (t *Topology) BlockNets(prefixes ...netip.Prefix) error {
	if len(prefixes) == 0 {
		return nil
	}
	var el []string
	for _, p := range prefixes {
		el = append(el, p.Masked().String())
	}
	return t.nft("add element ip szlab nets { " + strings.Join(el, ", ") + " }")
}

// SetBlockedEndpoints makes the censor namespace drop every TCP packet from
// a client to exactly these endpoints, replacing the previous set.
func (t *Topology) SetBlockedEndpoints(eps []netip.AddrPort) error {
	cmds := "flush set ip szlab eps\n"
	if len(eps) > 0 {
		var el []string
		for _, ep := range eps {
			el = append(el, fmt.Sprintf("%s . %d", ep.Addr(), ep.Port()))
		}
		cmds += "add element ip szlab eps { " + strings.Join(el, ", ") + " }\n"
	}
	return t.nft(cmds)
}

// BlockUDP makes the censor namespace drop every UDP packet (QUIC
// included) from a client to any address outside allow.
func (t *Topology) BlockUDP(allow []netip.Prefix) error {
	var el []string
	for _, r := range complementRanges(allow) {
		el = append(el, r[0].String()+"-"+r[1].String())
	}
	if len(el) == 0 {
		return nil
	}
	return t.nft("add element ip szlab udpnets { " + strings.Join(el, ", ") + " }")
}

// complementRanges returns the IPv4 address ranges (first, last) not
// covered by any of ps.
func complementRanges(ps []netip.Prefix) [][2]netip.Addr {
	var in [][2]netip.Addr
	for _, p := range ps {
		if !p.Addr().Is4() {
			continue
		}
		p = p.Masked()
		first := p.Addr()
		a := first.As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		last := netip.AddrFrom4(u32be(be32(a) | host))
		in = append(in, [2]netip.Addr{first, last})
	}
	slices.SortFunc(in, func(x, y [2]netip.Addr) int { return x[0].Compare(y[0]) })
	var out [][2]netip.Addr
	next, done := netip.AddrFrom4([4]byte{}), false
	for _, r := range in {
		if done {
			break
		}
		if next.Less(r[0]) {
			out = append(out, [2]netip.Addr{next, r[0].Prev()})
		}
		if !r[1].Less(next) {
			next = r[1].Next()
			done = !next.IsValid() // the range reached 255.255.255.255
		}
	}
	if !done {
		out = append(out, [2]netip.Addr{next, netip.AddrFrom4([4]byte{255, 255, 255, 255})})
	}
	return out
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func u32be(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// Unblock empties every block set (the censor is lifted).
func (t *Topology) Unblock() error {
	return t.nft("flush set ip szlab nets\nflush set ip szlab eps\nflush set ip szlab udpnets\n")
}

func (t *Topology) nft(script string) error {
	cmd := exec.Command("ip", "netns", "exec", t.CensorNS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns: nft %q: %v: %s", script, err, bytes.TrimSpace(out))
	}
	return nil
}

// Close deletes every namespace of the run (their veths go with them).
// Processes still inside keep running: stop them first.
func (t *Topology) Close() error {
	var errs []error
	for i := len(t.created) - 1; i >= 0; i-- {
		if err := run("ip", "netns", "del", t.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	t.created = nil
	return errors.Join(errs...)
}

// Command returns a command that runs inside node's namespace (ip netns
// exec), cancelled with SIGTERM when ctx ends.
func (t *Topology) Command(ctx context.Context, node string, name string, args ...string) (*exec.Cmd, error) {
	n := t.Nodes[node]
	if n == nil {
		return nil, fmt.Errorf("netns: no node %q", node)
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(unix.SIGTERM) }
	return cmd, nil
}

// nsOf returns the namespace name of a node, or the censor's for "".
func (t *Topology) nsOf(node string) (string, error) {
	if node == "" {
		return t.CensorNS, nil
	}
	n := t.Nodes[node]
	if n == nil {
		return "", fmt.Errorf("netns: no node %q", node)
	}
	return n.NS, nil
}

// Do runs fn on an OS thread that has entered the namespace of node (""
// for the censor). Sockets fn creates belong to that namespace for good;
// fn must create them on its own goroutine (no goroutines that dial).
func (t *Topology) Do(node string, fn func() error) error {
	ns, err := t.nsOf(node)
	if err != nil {
		return err
	}
	target, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: opening %s: %w", ns, err)
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine ends, the
		// runtime retires the thread instead of reusing it in the wrong
		// namespace.
		runtime.LockOSThread()
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: entering %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Listen opens a listener inside node's namespace.
func (t *Topology) Listen(node, network, addr string) (ln net.Listener, err error) {
	err = t.Do(node, func() error {
		var lerr error
		ln, lerr = net.Listen(network, addr)
		return lerr
	})
	return ln, err
}

// DialContext dials from inside node's namespace ("" for the censor).
func (t *Topology) DialContext(ctx context.Context, node, network, addr string) (c net.Conn, err error) {
	err = t.Do(node, func() error {
		var d net.Dialer
		var derr error
		c, derr = d.DialContext(ctx, network, addr)
		return derr
	})
	return c, err
}

func (t *Topology) sh(ns string, name string, args ...string) error {
	return run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
