//go:build !js

package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/samizdat-project/samizdat/reach"
)

// writeY4M writes a camera recording for Chromium's fake camera
// (--use-file-for-fake-video-capture): frames of w x h, 4:2:0, showing
// text's QR code on a grey background, as a hand-held phone would: the
// frames take turns among a few sizes (scales, pixels a module) and
// positions. gozxing cannot read every code from every still frame (in
// an offline check, 7 of 200 random links of this length at 4 pixels a
// module, 3 of them read at another size or position), so one fixed
// frame made the test fail on some links.
func writeY4M(t *testing.T, path, text string, w, h int, scales []int, frames int) {
	code, err := reach.EncodeQR(text) // as the CLI prints it
	if err != nil {
		t.Fatal(err)
	}
	chroma := bytes.Repeat([]byte{128}, 2*(w/2)*(h/2))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n", w, h)
	for i := range frames {
		scale := scales[i%len(scales)]
		side := (code.Size + 8) * scale
		if side > w || side > h {
			t.Fatalf("a %d-module code at %d pixels a module does not fit %dx%d", code.Size, scale, w, h)
		}
		shift := (i / len(scales) % 3) - 1 // left, centre, right
		x0, y0 := (w-side)/2+shift*(w-side)/4, (h-side)/2
		luma := bytes.Repeat([]byte{160}, w*h)
		for y := range side {
			for x := range side {
				v := byte(235)
				if code.Black(x/scale-4, y/scale-4) {
					v = 16
				}
				luma[(y0+y)*w+x0+x] = v
			}
		}
		bw.WriteString("FRAME\n")
		bw.Write(luma)
		bw.Write(chroma)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScanInvite: a browser with a camera (Chromium's fake camera playing
// a recording of a CLI user's invite QR code) scans it in Add contact: the
// link field holds the invite, the contact is added and a message reaches
// the CLI user. A browser without a camera is told so, and reads another
// user's invite from a photo: the PNG of the QR code the first page shows.
func TestScanInvite(t *testing.T) {
	srv, home, erinLink := serverAndCLIUser(t, "erin")
	video := filepath.Join(t.TempDir(), "camera.y4m")
	writeY4M(t, video, erinLink, 640, 480, []int{4, 3, 5}, 18)

	alice := newBrowser(t, chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-file-for-fake-video-capture", video))
	alice.openApp(srv.appURL)
	alice.createAccount("alice")
	aliceLink := alice.inviteLink()
	cli(t, home, "add", aliceLink)
	cli(t, home, "read") // erin goes online once: the server gets her keys

	alice.run(10*time.Second, chromedp.Click("#btn-add"), chromedp.Click(`#add-form button.scan`))
	alice.waitJS(60*time.Second, "the camera to read the code", `!document.getElementById("dlg-scan").open && document.getElementById("add-link").value === `+js(erinLink))
	alice.run(10*time.Second, chromedp.SetValue("#add-name", "erin"), chromedp.Click("#add-form button[type=submit]"))
	alice.waitJS(60*time.Second, "the new chat to open", `!document.getElementById("dlg-add").open && document.getElementById("conv-title").textContent === "erin"`)
	alice.send("scanned you, erin")
	cliReads(t, home, "alice: scanned you, erin")

	// The QR code alice's page shows, as a photo on bob's disk.
	alice.run(10*time.Second, chromedp.Click("#btn-invite"))
	alice.waitJS(30*time.Second, "the invite QR", `document.getElementById("invite-qr").naturalWidth > 0`)
	src := evalJS[string](alice, `document.getElementById("invite-qr").src`)
	pic, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("the invite QR is not a PNG data URL: %v", err)
	}
	photo := filepath.Join(t.TempDir(), "invite.png")
	if err := os.WriteFile(photo, pic, 0o600); err != nil {
		t.Fatal(err)
	}
	bob := newUser(t, srv.appURL, "bob")
	bob.run(10*time.Second, chromedp.Click("#btn-add"), chromedp.Click(`#add-form button.scan`))
	bob.waitJS(30*time.Second, "the page to say there is no camera", `/camera could not start.*photo/.test(document.getElementById("scan-msg").textContent)`)
	bob.screenshot("web-scan.png")
	bob.run(10*time.Second, chromedp.SetUploadFiles("#scan-file", []string{photo}))
	bob.waitJS(30*time.Second, "the photo read", `!document.getElementById("dlg-scan").open && document.getElementById("add-link").value === `+js(aliceLink))
	bob.run(10*time.Second, chromedp.SetValue("#add-name", "alice"), chromedp.Click("#add-form button[type=submit]"))
	bob.waitJS(60*time.Second, "the new chat to open", `!document.getElementById("dlg-add").open && document.getElementById("conv-title").textContent === "alice"`)
}
