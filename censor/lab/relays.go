package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/netns"
)

// labRelay is one `samizdat relay` process of the lab topology. Every
// relay forwards to the server's direct address (the upstream is outside
// the censor's reach: only client traffic is intercepted).
type labRelay struct {
	Name      string     // node name and relay label (unique)
	Where     string     // the address range it sits in, for people
	Transport string     // tlsws, obfs4, direct
	Addr      netip.Addr // in one of the ranges of docs/lab.md
	Host      string     // tlsws: the website's name (SNI and Host)
}

func (r labRelay) endpoint() netip.AddrPort { return netip.AddrPortFrom(r.Addr, 443) }

// labRelays is the relay set every scenario runs: one relay per range the
// 2018 blocklist grows over, one in foreign hosting (stall-16k), and a CDN
// front whose name is on the allowlist. The front comes first: it is the
// relay the server link carries (--link-relays 1); every user gets its own
// slice of three of these five from the endpoint book.
var labRelays = []labRelay{
	{Name: "cdn-front", Where: "approved CDN 198.19.0.0/16", Transport: "tlsws", Addr: netip.MustParseAddr("198.19.0.2"), Host: "cdn.lab.example"},
	{Name: "cloud-a-tlsws", Where: "cloud A 198.18.16.0/20", Transport: "tlsws", Addr: netip.MustParseAddr("198.18.16.2"), Host: "relay-a.lab.example"},
	{Name: "cloud-a-direct", Where: "cloud A 198.18.16.0/20", Transport: "direct", Addr: netip.MustParseAddr("198.18.16.3")},
	{Name: "cloud-b-obfs4", Where: "cloud B 198.18.32.0/20", Transport: "obfs4", Addr: netip.MustParseAddr("198.18.32.2")},
	{Name: "foreign-tlsws", Where: "foreign hosting 198.18.64.0/18", Transport: "tlsws", Addr: netip.MustParseAddr("198.18.64.2"), Host: "relay-f.lab.example"},
}

// linkRelays is how many of labRelays the server link carries.
const linkRelays = 1

// startRelays starts every lab relay in its namespace and returns their
// processes and relay links, in labRelays order.
func startRelays(ctx, pctx context.Context, topo *netns.Topology, o Options) ([]*proc, []string, error) {
	var procs []*proc
	var links []string
	for _, r := range labRelays {
		args := []string{"relay", "--upstream", netip.AddrPortFrom(serverAddr, serverPort).String(),
			"--listen", r.endpoint().String(), "--transport", r.Transport, "--label", r.Name,
			"--state", filepath.Join(o.Dir, r.Name), "--no-qr"}
		if r.Transport == "tlsws" {
			// Deployed as in production (docs/operator-guide.md, standalone):
			// a connection without the client's mark, every probe among
			// them, is spliced to the lab's cover website, the prober's
			// reference.
			args = append(args, "--host", r.Host, "--mode", "standalone", "--cover-origin", netip.AddrPortFrom(coverAddr, 443).String())
			// Its tunnels open as Chromium's loads of that site do
			// (cover_profile.go).
			profile, err := writeCoverProfile(o.Dir)
			if err != nil {
				return procs, nil, err
			}
			args = append(args, "--shape-profile", profile)
		}
		p, err := startProc(pctx, topo, o.Dir, r.Name, r.Name, o.Binary, args...)
		if err != nil {
			return procs, nil, err
		}
		procs = append(procs, p)
	}
	for i, p := range procs {
		line, err := p.waitLine(ctx, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "relay link: ") })
		if err != nil {
			return procs, nil, fmt.Errorf("lab: relay %s: %w", labRelays[i].Name, err)
		}
		links = append(links, strings.TrimPrefix(line, "relay link: "))
	}
	return procs, links, nil
}

// relayByLabel finds a relay of relays by its label.
func relayByLabel(relays []labRelay, label string) (labRelay, bool) {
	for _, r := range relays {
		if r.Name == label {
			return r, true
		}
	}
	return labRelay{}, false
}

// mirrorBlocks makes the censor namespace drop, before the interceptor,
// the packets to what the censor blocks by address: the IP blocklist's
// stages when they land, and the endpoints the prober and the enumerator
// block. A real censor drops the SYN, so the client's dial hangs instead of
// connecting to the interceptor and going silent; the engine still makes
// every decision and logs it.
func mirrorBlocks(ctx context.Context, topo *netns.Topology, t0 time.Time, stages []stageAt, blocked func() []netip.AddrPort, logf func(string, ...any)) {
	for _, st := range stages {
		if !st.at.After(time.Now()) {
			// Already due (a stage at 0 s): in place before the censor goes
			// live, so no SYN slips through to the interceptor.
			if err := topo.BlockNets(st.prefixes...); err != nil {
				logf("mirroring a blocklist stage: %v", err)
			}
			continue
		}
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(st.at)):
			}
			if err := topo.BlockNets(st.prefixes...); err != nil {
				logf("mirroring a blocklist stage: %v", err)
			}
		}()
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var last string
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			eps := blocked()
			slices.SortFunc(eps, func(a, b netip.AddrPort) int { return a.Compare(b) })
			key := fmt.Sprint(eps)
			if key == last {
				continue
			}
			if err := topo.SetBlockedEndpoints(eps); err != nil {
				logf("mirroring endpoint blocks: %v", err)
				continue
			}
			last = key
		}
	}()
}

// mirrorUDPBlock puts the scenario's UDP block (censor.UDPBlock), if any,
// into the censor namespace's nftables, where the engine cannot see it.
func mirrorUDPBlock(topo *netns.Topology, rules []censor.Rule, logf func(string, ...any)) {
	for _, r := range rules {
		if u, ok := r.(*censor.UDPBlock); ok {
			if err := topo.BlockUDP(u.Allow); err != nil {
				logf("mirroring the UDP block: %v", err)
			}
		}
	}
}
