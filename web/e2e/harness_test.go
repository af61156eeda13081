//go:build !js

package e2e

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/samizdat-project/samizdat/internal/buildtest"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
)

var updateImages = flag.Bool("update", os.Getenv("SAMIZDAT_UPDATE_SCREENSHOTS") != "", "rewrite the screenshots in docs/img")

// bin is the samizdat binary with the app, built once by TestMain.
var bin string

const passphrase = "web e2e correct horse battery"

func TestMain(m *testing.M) { buildtest.Main(m, &bin, true) }

// newAppServer starts a server serving the app, with a fresh data
// directory and ports the system picks.
func newAppServer(t testing.TB) *appServer {
	t.Helper()
	return startServer(t, filepath.Join(t.TempDir(), "server"), "127.0.0.1:0", "127.0.0.1:0")
}

// proc is a samizdat child process.
type proc = e2etest.Proc

func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	return e2etest.Start(t, bin, env, args...)
}

// appServer is a 'samizdat server --app' child.
type appServer struct {
	*proc
	data, addr, appAddr, link, appURL, sha string
}

func startServer(t testing.TB, data, listen, app string) *appServer {
	t.Helper()
	p := start(t, nil, "server", "--data", data, "--listen", listen, "--admin=", "--book-trust-age=-1s", "--app", app)
	got := p.WaitLines(t, 20*time.Second, "samizdat server listening on ", "server link: ", "app: ", "app bundle sha256 ")
	s := &appServer{proc: p, data: data, addr: got[0], link: got[1], appURL: got[2]}
	s.sha, _, _ = strings.Cut(got[3], " ")
	s.appAddr, _, _ = strings.Cut(strings.TrimPrefix(s.appURL, "http://"), "/")
	return s
}

// restart starts the server again on the same ports and data.
func (s *appServer) restart(t *testing.T) *appServer {
	t.Helper()
	ns := startServer(t, s.data, s.addr, s.appAddr)
	if ns.appURL != s.appURL {
		t.Fatalf("restarted server serves the app at %s, was %s", ns.appURL, s.appURL)
	}
	return ns
}

// browser is one Chromium with its own profile (its own IndexedDB).
type browser struct {
	t       testing.TB
	ctx     context.Context
	console *e2etest.Buffer // the page's console lines, shown when the test fails
}

// newBrowser starts a Chromium; extra adds command-line options (a fake
// camera).
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := testenv.LookPath(t, "chromium", "apt-get install chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts Chromium and must not carry a timeout: the
	// browser lives as long as that run's context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, console: &e2etest.Buffer{}}
	if err := chromedp.Listen(ctx, b.noteConsole); err != nil {
		t.Fatalf("listening to the page's console: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", b.console.String())
		}
	})
	return b
}

// noteConsole keeps the page's console lines (the client logs there).
func (b *browser) noteConsole(ev any) {
	call, ok := ev.(*runtime.EventConsoleAPICalled)
	if !ok {
		return
	}
	line := time.Now().Format("15:04:05.000") + " " + string(call.Type)
	for _, a := range call.Args {
		line += " " + strings.Trim(string(a.Value), `"`)
	}
	b.console.Write([]byte(line + "\n"))
}

// run runs steps within d or fails the test.
func (b *browser) run(d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (page says: %s)", err, b.pageText())
	}
}

// pageText is what the page shows, for failure messages.
func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	return s
}

// evalJS evaluates js (awaiting a promise) and returns its value.
func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %.80s: %v (page says: %s)", js, err, b.pageText())
	}
	return v
}

// waitJS polls the boolean expression js until true or d passes.
func (b *browser) waitJS(d time.Duration, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting %v for %s: %v; page says:\n%s", d, what, err, b.pageText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot writes the page to docs/img/name when -update is given.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if !*updateImages {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
