//go:build !js

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/samizdat-project/samizdat/attach"
)

// quadrants are the colours of testPNG's four quarters (top left, top
// right, bottom left, bottom right).
var quadrants = [4]color.RGBA{{220, 30, 40, 255}, {30, 160, 60, 255}, {20, 60, 200, 255}, {240, 200, 20, 255}}

// pixelAt is testPNG's pixel (x, y): its quarter's colour with noise in
// the low bits, so that the PNG does not compress to one chunk.
func pixelAt(x, y, w, h int) color.RGBA {
	q := 0
	if x >= w/2 {
		q++
	}
	if y >= h/2 {
		q += 2
	}
	c := quadrants[q]
	n := uint32(x*7919+y*104729) * 2654435761
	c.R ^= uint8(n>>8) & 7
	c.G ^= uint8(n>>16) & 7
	c.B ^= uint8(n>>24) & 7
	return c
}

// testPNG is a w x h PNG of four noisy coloured quarters, so that the
// decoded pixels show whether the page drew this image, whole and unscaled.
func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, pixelAt(x, y, w, h))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if b.Len() < 2*attach.ChunkSize {
		t.Fatalf("the test PNG has %d bytes; it should span several chunks", b.Len())
	}
	return b.Bytes()
}

// fileBox is the JS expression of the attachment box of the file named name.
func fileBox(name string) string {
	return `[...document.querySelectorAll("#messages div.file")].find(d => d.querySelector(".fname").textContent === ` + js(name) + `)`
}

// TestBrowserReceivesImage: a CLI user sends a PNG with a hostile name to
// a browser user. The page lists it with its name (as text: the HTML in
// it stays text, nothing runs), size and state; it shows the sender's
// thumbnail and then the full image from a Blob URL, whose decoded pixels
// and size are the PNG's; Save yields the sent bytes. Then the browser
// user sends a file from the file picker and the CLI user's download of
// it is byte-identical.
func TestBrowserReceivesImage(t *testing.T) {
	srv, home, erinLink := serverAndCLIUser(t, "erin")
	alice := newUser(t, srv.appURL, "alice")
	cli(t, home, "add", alice.inviteLink())
	alice.addContact(erinLink, "erin")

	// The descriptor refuses bidi and control characters in names
	// (attach.ValidName); HTML and right-to-left letters are allowed.
	const name = `<img src=x onerror="window.pwned=1"> שלום <b>bold.png` // no "/": a name is a base name
	const w, h = 1200, 800
	pic := testPNG(t, w, h)
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pic, 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, home, "send", "alice", "--file", path, "--caption", "a picture")

	alice.openChat("erin")
	box := fileBox(name)
	alice.waitJS(60*time.Second, "the file listed by its name", `!!`+box)
	if got := evalJS[string](alice, `(`+box+`).querySelector(".fsize").textContent`); got != fmt.Sprintf("%.1f KiB", float64(len(pic))/(1<<10)) {
		t.Fatalf("size shown as %q for %d bytes", got, len(pic))
	}
	// The thumbnail the sender made (128 pixels wide) decodes.
	thumbW := evalJS[int](alice, `(async () => {
		const id = (`+box+`).closest("li.msg").dataset.id;
		const url = await samizdat.thumbnail({chatId: "erin", id});
		if (!url.startsWith("data:image/jpeg;base64,")) return -1;
		const img = new Image(); img.src = url; await img.decode(); return img.naturalWidth;
	})()`)
	if thumbW != 128 { // the longer side
		t.Fatalf("thumbnail width %d, want 128", thumbW)
	}
	alice.waitImage(box, w, h)
	if got := evalJS[string](alice, `(`+box+`).querySelector(".fstate").textContent`); got != "downloaded, every chunk verified" {
		t.Fatalf("state shown as %q", got)
	}
	pixels := evalJS[[]float64](alice, `(() => {
		const i = (`+box+`).querySelector("img.full");
		const c = document.createElement("canvas"); c.width = i.naturalWidth; c.height = i.naturalHeight;
		const g = c.getContext("2d"); g.drawImage(i, 0, 0);
		const at = (x, y) => [...g.getImageData(x, y, 1, 1).data];
		return [i.naturalWidth, i.naturalHeight, ...at(10, 10), ...at(`+fmt.Sprint(w-10)+`, 10), ...at(10, `+fmt.Sprint(h-10)+`), ...at(`+fmt.Sprint(w-10, ",", h-10)+`)];
	})()`)
	want := []float64{w, h}
	for _, p := range [][2]int{{10, 10}, {w - 10, 10}, {10, h - 10}, {w - 10, h - 10}} {
		q := pixelAt(p[0], p[1], w, h)
		want = append(want, float64(q.R), float64(q.G), float64(q.B), float64(q.A))
	}
	if fmt.Sprint(pixels) != fmt.Sprint(want) {
		t.Fatalf("the page drew %v, want size and quarter colours %v", pixels, want)
	}
	if evalJS[bool](alice, `window.pwned !== undefined || document.querySelectorAll("#messages b, #messages img:not(.preview)").length > 0`) {
		t.Fatal("the file name became markup")
	}
	if got := evalJS[string](alice, `(`+box+`).querySelector("img.full").alt + "|" + (`+box+`).querySelector("a.save").download`); got != name+"|"+name {
		t.Fatalf("alt|download = %q", got)
	}
	alice.screenshot("web-attachment.png")

	saved := alice.save(t, box)
	if !bytes.Equal(saved, pic) {
		t.Fatalf("Save gave %d bytes that differ from the %d sent", len(saved), len(pic))
	}

	t.Run("adversary-not-an-image", func(t *testing.T) { notAnImage(t, alice, home) })

	// The browser sends a file; the CLI user downloads the same bytes.
	doc := bytes.Repeat([]byte("samizdat from the browser\n"), 40000) // ~1 MB, several chunks
	upPath := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(upPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	alice.run(10*time.Second, chromedp.SetUploadFiles("#file-input", []string{upPath}))
	alice.waitJS(120*time.Second, "the sent file listed", `!!`+fileBox("notes.txt"))
	out := ""
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out, "notes.txt") {
		if time.Now().After(deadline) {
			t.Fatalf("the CLI user never got the file; read printed:\n%s", out)
		}
		out += cli(t, home, "read")
		time.Sleep(300 * time.Millisecond)
	}
	m := regexp.MustCompile(`samizdat download (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("read printed no download command:\n%s", out)
	}
	cli(t, home, "download", m[1], "--dir", filepath.Join(dir, "got"))
	got, err := os.ReadFile(filepath.Join(dir, "got", "notes.txt"))
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("the CLI user's copy: %d bytes, err %v; sent %d", len(got), err, len(doc))
	}
}

// notAnImage (TestAdversary): files named as images whose bytes are HTML
// or a scripted SVG (the sender's media type says image/png and
// image/svg+xml) are fetched like images, but the page shows neither
// inline, and their Save Blobs are application/octet-stream, so opening
// one cannot run it in the app's origin.
func notAnImage(t *testing.T, alice *browser, home string) {
	alice.t = t
	dir := t.TempDir()
	files := map[string]string{
		"page.png": `<html><body><script>window.pwned = 3</script>not a picture</body></html>`,
		"logo.svg": `<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned = 4"><script>window.pwned = 5</script><rect width="10" height="10"/></svg>`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cli(t, home, "send", "alice", "--file", p)
	}
	for name := range files {
		box := fileBox(name)
		alice.waitJS(60*time.Second, name+" fetched", `(() => { const d = `+box+`; return !!d && !!d.querySelector("a.save") })()`)
		if n := evalJS[int](alice, `(`+box+`).querySelectorAll("img").length`); n != 0 {
			t.Fatalf("%s is shown as %d images", name, n)
		}
		// The CSP's connect-src keeps the page from fetching a blob: URL;
		// the link's type attribute is the Blob's type.
		typ := evalJS[string](alice, `(`+box+`).querySelector("a.save").type`)
		if typ != "application/octet-stream" {
			t.Fatalf("%s is saved as a Blob of type %q", name, typ)
		}
	}
	if evalJS[bool](alice, `window.pwned !== undefined`) {
		t.Fatal("a file ran script in the page")
	}
}

// waitImage waits until the file box shows its full image, w x h, from a
// Blob URL. A download that failed (a mirror that has not fetched every
// chunk yet) is started again with the box's Download button.
func (b *browser) waitImage(box string, w, h int) {
	b.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		size := evalJS[[]int](b, `(() => { const i = (`+box+`)?.querySelector("img.full");
			return i && i.complete && i.src.startsWith("blob:") ? [i.naturalWidth, i.naturalHeight] : [] })()`)
		if len(size) == 2 {
			if size[0] != w || size[1] != h {
				b.t.Fatalf("the image shows as %dx%d, want %dx%d", size[0], size[1], w, h)
			}
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the image never showed; page says:\n%s", b.pageText())
		}
		if evalJS[bool](b, `(() => { const d = `+box+`; const f = d?.querySelector("button.fetch");
			if (f && /^not downloaded/.test(d.querySelector(".fstate").textContent)) { f.click(); return true } return false })()`) {
			b.t.Logf("download failed, started again: %s", evalJS[string](b, `(`+box+`).querySelector(".fstate").textContent`))
		}
		time.Sleep(time.Second)
	}
}

// save clicks the Save link of the file box and returns the bytes the
// browser wrote to its download directory.
func (b *browser) save(t *testing.T, box string) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir})
	cancel()
	if err != nil {
		t.Fatalf("allowing downloads: %v", err)
	}
	evalJS[bool](b, `(`+box+`).querySelector("a.save").click(), true`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".crdownload") {
				data, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(data) > 0 {
					return data
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no download arrived in %s (%d entries)", dir, len(ents))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
