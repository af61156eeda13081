package lab

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testnet"
)

// TestRecordCoverProfile records the lab relays' opening profile as an
// operator records their cover site's: a copy of the lab's nginx cover
// site (same configuration, pages as the lab's browsing loads them) on
// loopback, outside the lab and its censor, loaded by headless Chromium
// through `samizdat relay record-shape`. With -record-cover-profile it
// rewrites the fixture; without, it records a few loads and checks that
// the fixture still describes them (the first records' directions and
// size classes), so a new Chromium or nginx that changes the loads fails
// here, not in the lab.
func TestRecordCoverProfile(t *testing.T) {
	bin := recordingBinary(t, nginxMissing(), "nginx", "apt-get install nginx")
	dir := t.TempDir()
	addr := startLoopbackCover(t, filepath.Join(dir, "nginx"))
	loads := 4
	if *recordCoverProfile {
		loads = 20
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	args := []string{"relay", "record-shape", "--connect", addr, "--insecure", "--loads", fmt.Sprint(loads), "--out", filepath.Join(dir, "profile.txt")}
	for p := range loads {
		name, err := writeCoverPage(filepath.Join(dir, "nginx", "www"), p, rng)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--site", "https://www.cdn.lab.example/"+name)
	}
	out := e2etest.MustRun(t, 10*time.Minute, bin, nil, args...)
	t.Log(lastLines(out, 1))
	fresh, err := os.ReadFile(filepath.Join(dir, "profile.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if *recordCoverProfile {
		text := "# The lab's cover site (censor/lab/nginx.go), loaded as the lab's browsing loads it. Refresh:\n#   " +
			coverProfileCommand + "\n" + string(fresh)
		if err := os.WriteFile("testdata/cover-shape-profile.txt", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	known := map[string]bool{}
	for _, l := range profileLines(string(coverShapeProfile)) {
		known[openingClass(l)] = true
	}
	lines := profileLines(string(fresh))
	matched := 0
	for _, l := range lines {
		if known[openingClass(l)] {
			matched++
		}
	}
	t.Logf("%d of %d fresh connections open as one of the fixture's", matched, len(lines))
	if len(lines) == 0 || 2*matched < len(lines) {
		t.Errorf("only %d of %d fresh Chromium connections to the cover open as the fixture's do: refresh it (%s)", matched, len(lines), coverProfileCommand)
	}
}

// startLoopbackCover runs the lab's nginx cover site on a loopback port,
// returning its address.
func startLoopbackCover(t *testing.T, root string) string {
	addr := testnet.FreeAddr(t)
	if err := writeNginxSite(root, netip.MustParseAddrPort(addr)); err != nil {
		t.Fatal(err)
	}
	nginx := e2etest.Start(t, nginxBinary, nil, "-e", "stderr", "-p", root, "-c", filepath.Join(root, "nginx.conf"))
	nginx.WaitAccepting(t, addr, 20*time.Second)
	return addr
}

// profileLines returns a profile's trace lines.
func profileLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// openingClass names a trace's first four records by direction and size
// class (powers of two), as coarse as the lab classifier's tokens.
func openingClass(line string) string {
	var b strings.Builder
	for i, f := range strings.Fields(line) {
		if i == 4 {
			break
		}
		var dir byte
		var size, ms int
		fmt.Sscanf(f, "%c%d@%d", &dir, &size, &ms)
		class := 64
		for class < 16384 && size >= class {
			class *= 2
		}
		fmt.Fprintf(&b, "%c<%d ", dir, class)
	}
	return b.String()
}
