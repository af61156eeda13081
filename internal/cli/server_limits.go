package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/samizdat-project/samizdat/server"
)

// limitFlags are `samizdat server`'s abuse limits and quotas
// (docs/operator-guide.md, "Quotas and limits").
type limitFlags struct {
	maxSessions, sessPerAddr int
	linkBoxes, linkPerAddr   int
	linkPerAccount           int
	sendBytes, mailboxBytes  byteSize
	accountBytes, reserve    byteSize
	connRate, connBurst      float64
	requestRate, deviceRate  float64
	chunkRate, devChunkRate  float64
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	lf := &limitFlags{}
	fs.IntVar(&lf.maxSessions, "max-sessions", server.DefaultMaxSessions, "connections held at once (in handshake or open); -1: no cap")
	fs.IntVar(&lf.sessPerAddr, "max-sessions-per-addr", 0, "connections held at once from one IPv4 address or IPv6 /64 (0: a tenth of --max-sessions; -1: no cap; raise it behind a busy relay, whose clients share its address)")
	fs.IntVar(&lf.linkBoxes, "max-link-boxes", server.DefaultMaxLinkBoxes, "pending device-linking mailboxes, server-wide")
	fs.IntVar(&lf.linkPerAddr, "max-link-boxes-per-addr", server.DefaultMaxLinkBoxesPerAddr, "pending device-linking mailboxes from one IPv4 address or IPv6 /64")
	fs.IntVar(&lf.linkPerAccount, "max-link-boxes-per-account", server.DefaultMaxLinkBoxesPerAccount, "pending device-linking mailboxes opened by one account's devices")
	lf.sendBytes = server.DefaultSendBytes
	lf.mailboxBytes = server.DefaultMailboxBytes
	lf.accountBytes = server.DefaultAccountBytes
	lf.reserve = server.DefaultReserveBytes
	fs.Var(&lf.sendBytes, "quota-send", "bytes one Send may store: recipients x payload size (e.g. 256MiB; -1: off)")
	fs.Var(&lf.mailboxBytes, "quota-mailbox", "bytes waiting in one device's mailbox (-1: off)")
	fs.Var(&lf.accountBytes, "quota-account", "bytes waiting in the mailboxes of one account's devices (-1: off)")
	fs.Var(&lf.reserve, "reserve", "free disk space to keep on the data directory's file system; writes that would leave less are refused (-1: off)")
	d := server.DefaultRateLimits
	fs.Float64Var(&lf.connRate, "conn-rate", d.ConnectionsPerIP.PerSecond, "new connections per second from one IPv4 address or IPv6 /64 (0: no limit)")
	fs.Float64Var(&lf.connBurst, "conn-burst", float64(d.ConnectionsPerIP.Burst), "burst of new connections from one IPv4 address or IPv6 /64")
	fs.Float64Var(&lf.requestRate, "request-rate", d.RequestsPerIP.PerSecond, "requests per second from one IPv4 address or IPv6 /64 (0: no limit)")
	fs.Float64Var(&lf.deviceRate, "device-rate", d.RequestsPerDevice.PerSecond, "requests per second from one device (0: no limit)")
	fs.Float64Var(&lf.chunkRate, "chunk-rate", d.ChunksPerIP.PerSecond, "file chunk requests (256 KiB each at most) per second from one IPv4 address or IPv6 /64, counted apart from --request-rate (0: no limit)")
	fs.Float64Var(&lf.devChunkRate, "device-chunk-rate", d.ChunksPerDevice.PerSecond, "file chunk requests per second from one device, counted apart from --device-rate (0: no limit)")
	return lf
}

// apply puts the flags into cfg; data is the data directory (the
// free-space guard watches its file system).
func (lf *limitFlags) apply(cfg *server.Config, data string) {
	cfg.MaxSessions, cfg.MaxSessionsPerAddr = lf.maxSessions, lf.sessPerAddr
	cfg.MaxLinkBoxes, cfg.MaxLinkBoxesPerAddr, cfg.MaxLinkBoxesPerAccount = lf.linkBoxes, lf.linkPerAddr, lf.linkPerAccount
	cfg.Quotas = server.Quotas{SendBytes: int64(lf.sendBytes), MailboxBytes: int64(lf.mailboxBytes),
		AccountBytes: int64(lf.accountBytes), ReserveBytes: int64(lf.reserve), DataDir: data}
	r := server.DefaultRateLimits
	r.ConnectionsPerIP = server.Rate{PerSecond: lf.connRate, Burst: int(lf.connBurst)}
	r.RequestsPerIP.PerSecond = lf.requestRate
	r.RequestsPerDevice.PerSecond = lf.deviceRate
	r.ChunksPerIP.PerSecond = lf.chunkRate
	r.ChunksPerDevice.PerSecond = lf.devChunkRate
	cfg.RateLimits = r
}

// byteSize is a flag of bytes: a number with an optional KiB, MiB, GiB or
// TiB suffix (KB, MB, GB, TB mean the same), or -1.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	num, mult := strings.ToUpper(strings.TrimSpace(s)), int64(1)
	for i, unit := range []string{"K", "M", "G", "T"} {
		if rest, ok := cutUnit(num, unit); ok {
			num, mult = rest, int64(1)<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < -1 || (n == -1 && mult != 1) || n > (1<<62)/mult {
		return fmt.Errorf("want a number of bytes like 512MiB, or -1 for off")
	}
	*b = byteSize(n * mult)
	return nil
}

// cutUnit removes a unit suffix ("MIB", "MB" or "M" for unit "M").
func cutUnit(s, unit string) (string, bool) {
	for _, form := range []string{unit + "IB", unit + "B", unit} {
		if rest, ok := strings.CutSuffix(s, form); ok {
			return rest, true
		}
	}
	return s, false
}
