//go:build !js

package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// inViewport is a JS expression: element id lies within the 390x844
// viewport, is shown, and is at least minWidth CSS pixels wide.
func inViewport(id string, minWidth int) string {
	return `(() => { const r = document.getElementById(` + js(id) + `).getBoundingClientRect();
		return r.width >= ` + itoa(minWidth) + ` && r.height > 0 && r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; })()`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestPhoneLayout: on a 390x844 screen (a phone held upright) the chat
// list fills the screen, a chat replaces it with the compose box within
// reach, Enter sends, and Back returns to the list; nothing is wider than
// the screen. Then its store is damaged (app_test.go damaged).
func TestPhoneLayout(t *testing.T) {
	srv := newAppServer(t)
	p := newBrowser(t)
	p.run(10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	p.openApp(srv.appURL)
	p.createAccount("pat")
	p.waitJS(10*time.Second, "the chat list on screen", inViewport("chats", 300)+` && document.getElementById("conv").offsetParent === null`)
	p.run(10*time.Second, chromedp.Click("#btn-group"), chromedp.SetValue("#group-title", "notes"),
		chromedp.Click("#group-form button[type=submit]"))
	p.waitJS(60*time.Second, "the chat open", `document.getElementById("conv-title").textContent === "notes"`)
	p.waitJS(10*time.Second, "the compose box on screen", inViewport("text", 200)+` && document.getElementById("sidebar").offsetParent === null`)
	p.send("a note from the phone")
	p.waitText("a note from the phone")
	if w := evalJS[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Fatalf("the page is %d px wide on a 390 px screen", w)
	}
	p.screenshot("web-phone.png")
	p.run(10*time.Second, chromedp.Click("#btn-back"))
	p.waitJS(10*time.Second, "the list again", inViewport("chats", 300)+` && [...document.querySelectorAll("#chats li .title")].some(e => e.textContent === "notes")`)
	t.Run("damaged", func(t *testing.T) { damaged(t, p) })
}
