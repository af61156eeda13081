package tlsws

import (
	crand "crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
)

// The cover site of the shape test: a small single-page application, as a
// shop or a club would run, served over HTTP/2 as any current web server
// serves it to Chromium. The page (about 1.3 KB) starts a session with the
// site's API (a POST of the visitor's saved state, 1.5-2.2 KB of JSON,
// answered with 1.2-1.7 KB) and then reports what it showed (a POST of
// 300-370 bytes, answered with 300-420). The sizes vary from one visit to
// the next as such data does. Chromium's page loads of it are what tunnel
// openings are compared with (TestShapeClassifier) and what the shipped
// profile (chrome_shape_profile.txt) was recorded from.
//
// The site is chosen so that a browser's visit is small: its first 20
// records carry about 7 KB in all, so a tunnel opening that replays one
// costs little against a censor's 15-20 KB freeze (docs/spec/transports.md,
// "Byte budgets and liveness"), and over HTTP/2 (HPACK) the browser's
// records stay under Russia's 2024 rule, so a faithful replay does too.
const shapeCoverIndex = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bakery on Fifth</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>body{font-family:Georgia,serif;margin:0 auto;max-width:40em;padding:1em;color:#3b2f2f;background:#fffaf0}
h1{font-size:2em;border-bottom:2px solid #c8a165}footer{margin-top:3em;font-size:.8em;color:#7a6a5a}</style></head>
<body><h1>Bakery on Fifth</h1><p>Fresh bread daily since 1987. Sourdough, rye and pastries baked every morning.</p>
<h2>Today</h2><div id="menu"></div>
<footer>Bakery on Fifth, 12 Fifth Street. Call us to order a cake.</footer>
<script>
function filler(n){let s="";const a="abcdefghijklmnopqrstuvwxyz0123456789";while(s.length<n)s+=a[Math.floor(Math.random()*a.length)];return s;}
window.pageDone = (async () => {
  try {
    const saved = {visitor: filler(22), basket: filler(1500 + Math.floor(Math.random()*700))};
    const r = await fetch("/api/session", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(saved)});
    const d = await r.json();
    document.getElementById("menu").textContent = (d.menu || "").slice(0, 300);
    const seen = {visitor: saved.visitor, shown: filler(260 + Math.floor(Math.random()*60))};
    await (await fetch("/api/seen", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(seen)})).json();
  } catch (e) {}
  return true;
})();
</script></body></html>
`

// shapeCoverHandler serves the cover site: the page and its API.
func shapeCoverHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, shapeCoverIndex)
	})
	answer := func(least, most int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			n := least + rand.IntN(most-least+1)
			fmt.Fprintf(w, `{"ok":true,"menu":"%s"}`, strings.Repeat("r", n))
		}
	}
	mux.HandleFunc("POST /api/session", answer(1200, 1700))
	mux.HandleFunc("POST /api/seen", answer(300, 420))
	return mux
}

// shapeCoverSite serves the cover site over TLS with HTTP/2 (ALPN h2,
// http/1.1) on a loopback port and returns its address.
func shapeCoverSite(t testing.TB) string {
	t.Helper()
	cert, err := SelfSigned("cover.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: shapeCoverHandler(), ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"},
	}}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// shapeRelay runs a standalone relay in front of the cover site: Chromium's
// page loads (unmarked) are spliced to the site, tunnels get the relay.
func shapeRelay(t testing.TB) (*Listener, DialConfig) {
	t.Helper()
	return shapeRelayWith(t, nil)
}

// shapeRelayWith is shapeRelay whose tunnels replay profile (nil: the
// built-in one), on both ends.
func shapeRelayWith(t testing.TB, profile *ShapeProfile) (*Listener, DialConfig) {
	t.Helper()
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	crand.Read(secret)
	ln, err := ListenStandalone(StandaloneConfig{Addr: "127.0.0.1:0", Secret: secret, CoverAddr: shapeCoverSite(t), Certificate: &cert, Shape: profile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, DialConfig{Addr: ln.Addr().String(), Host: "cover.test", Secret: secret, Pin: PinOf(cert.Leaf), Shape: profile}
}
