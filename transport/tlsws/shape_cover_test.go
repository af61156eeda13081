package tlsws

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cover site of the shape test: a small single-page site, as a shop or
// a club would run: a page with its stylesheet inline, whose script then
// fetches the day's data one file after another over the same connection,
// as web applications do. Chromium's page loads of it are what tunnel
// openings are compared with (TestShapeClassifier) and what the shipped
// profile (chrome_shape_profile.txt) was recorded from.
const shapeCoverIndex = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bakery on Fifth</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:Georgia,serif;margin:0 auto;max-width:40em;padding:1em;color:#3b2f2f;background:#fffaf0}
h1{font-size:2em;border-bottom:2px solid #c8a165}ul{padding-left:1.2em}.hours td{padding:.2em 1em}
footer{margin-top:3em;font-size:.8em;color:#7a6a5a}</style></head>
<body><h1>Bakery on Fifth</h1><p>Fresh bread daily since 1987. Sourdough, rye and pastries baked every morning.</p>
<h2>Today</h2><ul id="menu"></ul><h2>Hours</h2><table class="hours" id="hours"></table><h2>News</h2><div id="news"></div>
<footer>Bakery on Fifth, 12 Fifth Street. Call us to order a cake.</footer>
<script>
window.pageDone = (async () => {
  for (const name of ["menu", "hours", "news", "reviews", "specials", "events", "staff", "faq"]) {
    try { const r = await fetch("/data/" + name + ".json"); const d = await r.json();
      const el = document.getElementById(name); if (el) el.textContent = JSON.stringify(d).slice(0, 200); } catch (e) {}
  }
  return true;
})();
</script></body></html>
`

// shapeCoverServer is testServer with the shape test's cover site.
func shapeCoverServer(t testing.TB) (*Listener, DialConfig) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(shapeCoverIndex), 0o644)
	sizes := map[string]int{"menu": 900, "hours": 300, "news": 2400, "specials": 600, "reviews": 4200, "events": 1500, "staff": 700, "faq": 3100}
	for name, n := range sizes {
		var b strings.Builder
		b.WriteString(`{"items":[`)
		junk := make([]byte, n/2)
		rand.Read(junk)
		for i := 0; b.Len() < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"name":"item`)
			b.WriteString(strings.Repeat("x", int(junk[i%len(junk)])%20))
			b.WriteString(`","price":3.5}`)
		}
		b.WriteString("]}")
		os.WriteFile(filepath.Join(dir, "data", name+".json"), []byte(b.String()), 0o644)
	}
	return testServerWithCover(t, dir)
}
