package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor/netns"
	"github.com/samizdat-project/samizdat/reach"
)

// The relay pool stands in for many relays without as many processes: one
// direct relay in node poolNode listens on every address of poolFirst's
// range, and each address is published in the endpoint book as a relay of
// its own (its own link, label and entry ID), so the censor sees, learns
// and blocks poolRelays separate relay addresses, as it would 50 relays
// run by 50 volunteers.
const poolNode = "relay-pool"

// poolFirst is the pool's first address, in cloud A (docs/lab.md).
var poolFirst = netip.MustParseAddr("198.18.24.1")

// poolRelays is the pool's relays, n of them, named pool-01...
func poolRelays(n int) []labRelay {
	out := make([]labRelay, n)
	a := poolFirst
	for i := range out {
		out[i] = labRelay{Name: fmt.Sprintf("pool-%02d", i+1), Where: "cloud A pool 198.18.24.0/24", Transport: "direct", Addr: a}
		a = a.Next()
	}
	return out
}

// poolAddrs is the addresses the pool's node carries.
func poolAddrs(pool []labRelay) []netip.Addr {
	out := make([]netip.Addr, len(pool))
	for i, r := range pool {
		out[i] = r.Addr
	}
	return out
}

// startPool starts the pool's one relay process and returns it with one
// relay link per pool relay: the process's link with its address and
// label rewritten.
func startPool(ctx, pctx context.Context, topo *netns.Topology, o Options, pool []labRelay) (*proc, []string, error) {
	if len(pool) == 0 {
		return nil, nil, nil
	}
	p, err := startProc(pctx, topo, o.Dir, poolNode, poolNode, o.Binary, "relay",
		"--upstream", netip.AddrPortFrom(serverAddr, serverPort).String(),
		"--listen", net.JoinHostPort("0.0.0.0", "443"), "--public", pool[0].endpoint().String(),
		"--transport", "direct", "--label", pool[0].Name, "--state", filepath.Join(o.Dir, poolNode), "--no-qr")
	if err != nil {
		return nil, nil, err
	}
	line, err := p.waitLine(ctx, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "relay link: ") })
	if err != nil {
		return p, nil, fmt.Errorf("lab: the relay pool: %w", err)
	}
	links, err := poolLinks(strings.TrimPrefix(line, "relay link: "), pool)
	return p, links, err
}

// poolLinks rewrites one relay link into one per pool relay.
func poolLinks(text string, pool []labRelay) ([]string, error) {
	l, err := reach.ParseLink(text)
	if err != nil {
		return nil, fmt.Errorf("lab: the relay pool's link: %w", err)
	}
	if len(l.Unsigned) != 1 || len(l.Entries) != 0 {
		return nil, fmt.Errorf("lab: the relay pool's link has %d unsigned and %d signed entries, want one unsigned", len(l.Unsigned), len(l.Entries))
	}
	out := make([]string, len(pool))
	for i, r := range pool {
		e := l.Unsigned[0]
		e.Spec.Addr = r.endpoint().String()
		e.Label = r.Name
		e.ID = reach.UnsignedID(e.Spec)
		out[i] = reach.Link{Unsigned: []reach.Entry{e}}.String()
	}
	return out, nil
}

// judgePool fails a run whose censor burned more than a tenth of the
// pool (issue #13's goal for enumeration-100: at most 5 of 50).
func judgePool(r *Report, pool int) {
	if pool == 0 {
		return
	}
	n := 0
	for _, name := range r.Burned {
		if strings.HasPrefix(name, "pool-") {
			n++
		}
	}
	if n*10 > pool {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d of the %d pool relays burned, more than a tenth", n, pool))
	}
}
