package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/samizdat-project/samizdat/web"
)

// TestWebBenchmarks measures what docs/benchmarks.md reports for the app:
// the bundle's sizes, and the time from opening the link to the chat list
// in a fresh browser (cold: fetch, compile, create the account) and after
// a reload (warm: the module revalidated by its hash, the store opened).
// Run with SAMIZDAT_WEB_BENCH=1.
func TestWebBenchmarks(t *testing.T) {
	if os.Getenv("SAMIZDAT_WEB_BENCH") == "" {
		t.Skip("set SAMIZDAT_WEB_BENCH=1 to measure")
	}
	needApp(t)
	b := web.Info()
	t.Logf("bundle: %d bytes, gzip %d (brotli: see go generate ./web)", b.Size, b.GzipSize)
	srv := startServer(t, filepath.Join(t.TempDir(), "server"), "127.0.0.1:0", "127.0.0.1:0")
	u := newBrowser(t)
	start := time.Now()
	u.openApp(srv.appURL)
	ready := time.Since(start)
	evalJS[bool](u, `globalThis.samizdatTestLightKDF = false`) // measure the real Argon2id
	u.createAccount("bench")
	t.Logf("cold: app ready %v, chat list after creating the account %v", ready, time.Since(start))
	for i := 0; i < 3; i++ {
		start = time.Now()
		u.run(30*time.Second, chromedp.Reload())
		u.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
		ready = time.Since(start)
		u.openAccount(passphrase)
		u.waitJS(120*time.Second, "the chat list", `!document.getElementById("app").hidden`)
		t.Logf("warm %d: app ready %v, chat list after the passphrase %v", i+1, ready, time.Since(start))
	}
}
