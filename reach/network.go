package reach

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
)

// LocalNetwork names the network this machine is on now, for Memory: a
// short hash of its global interface prefixes (IPv4 /24, IPv6 /64),
// so that a phone moving from home Wi-Fi to a mobile network tries what
// worked there first. It is "" when no global address is up. Only the
// hash is kept, never the addresses.
func LocalNetwork() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var addrs []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				addrs = append(addrs, p.Addr())
			}
		}
	}
	return networkID(addrs)
}

// networkID hashes the network prefixes of addrs, ignoring order,
// duplicates, loopback and link-local addresses.
func networkID(addrs []netip.Addr) string {
	var prefixes []string
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			continue
		}
		bits := 64
		if a.Is4() {
			bits = 24
		}
		p, err := a.Prefix(bits)
		if err == nil {
			prefixes = append(prefixes, p.String())
		}
	}
	if len(prefixes) == 0 {
		return ""
	}
	slices.Sort(prefixes)
	prefixes = slices.Compact(prefixes)
	h := sha256.New()
	for _, p := range prefixes {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
