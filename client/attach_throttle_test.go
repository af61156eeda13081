//go:build !js

package client

import (
	"bytes"
	"context"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// linkScale speeds up the throttled link of TestFileResumeThrottledCutLink
// so that CI runs it in about a minute: the link (140 kbps, cut
// every 30 s) becomes 10x the rate and a cut every 3 s. A connection
// carries the same bytes between cuts (about 525 KB, two chunks), and that
// ratio, not the wall time, decides how many chunks are sent again.
const linkScale = 10

const (
	throttledBitsPerSecond = 140_000 * linkScale
	cutEvery               = 30 * time.Second / linkScale
)

// throttledCutProxy forwards TCP to target at rate bytes per second in each
// direction and cuts every connection cutAfter after it opened: a
// throttled link that drops every half minute (docs/spec/attachments.md
// §5, issue 16's resume proof).
func throttledCutProxy(t *testing.T, target string, rate int, cutAfter time.Duration) (addr string, cuts *atomic.Int64) {
	cuts = &atomic.Int64{}
	addr = proxyTo(t, target, func(in, out net.Conn, cut func()) {
		timer := time.AfterFunc(cutAfter, func() { cuts.Add(1); cut() })
		stop := func() { timer.Stop(); cut() }
		go throttle(out, in, rate, stop)
		go throttle(in, out, rate, stop)
	})
	return addr, cuts
}

// throttle copies src to dst at most rate bytes per second, in 1 KiB
// steps, and calls done when either side fails.
func throttle(dst, src net.Conn, rate int, done func()) {
	defer done()
	buf := make([]byte, 1<<10)
	start, sent := time.Now(), 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			sent += n
			if due := start.Add(time.Duration(sent) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
				time.Sleep(time.Until(due))
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestFileResumeThrottledCutLink: a 5 MB file over a link throttled to
// 140 kbps and cut every 30 s (scaled by linkScale) is uploaded and
// downloaded whole, every chunk sent at most twice: counted by the client
// for the upload (an upper bound of what reached the server) and by the
// server's blob store for the download.
func TestFileResumeThrottledCutLink(t *testing.T) {
	if testing.Short() {
		t.Skip("about a minute of throttled transfer")
	}
	link, blobs := startFileServer(t)
	proxy, cuts := throttledCutProxy(t, link.Addrs[0], throttledBitsPerSecond/8, cutEvery)
	slow := ServerLink{Key: link.Key, Addrs: []string{proxy}}
	alice, bob := newUser(t, slow, "alice", nil), newUser(t, slow, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "lecture.ogg", 5_000_000)
	var up Progress
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := alice.SendFile(ctx, "bob", path, "", &FileOptions{OnProgress: func(p Progress) { up = p }}); err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	upTime, upCuts := time.Since(start), cuts.Load()
	if up.Done != up.Total || up.MostSends > 2 {
		t.Fatalf("upload: %+v; every chunk should be sent at most twice", up)
	}
	m := waitFile(t, bob)
	blobs.countGets()
	start = time.Now()
	got, err := bob.Download(ctx, m.ID, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("the downloaded file differs")
	}
	most, total := blobs.mostGets()
	if most > 2 {
		t.Fatalf("the server served one chunk %d times; want at most two", most)
	}
	if upCuts < 2 || cuts.Load()-upCuts < 2 {
		t.Fatalf("the link was cut %d times during the upload and %d during the download; the test proves nothing", upCuts, cuts.Load()-upCuts)
	}
	t.Logf("%d chunks: upload %v (%d sends, at most %d of one chunk, %d cuts); download %v (%d chunks served, at most %d of one, %d cuts)",
		up.Total, upTime.Round(time.Second), up.Sends, up.MostSends, upCuts, time.Since(start).Round(time.Second), total, most, cuts.Load()-upCuts)
}
