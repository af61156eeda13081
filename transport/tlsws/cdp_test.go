package tlsws

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/samizdat-project/samizdat/internal/testenv"
)

// A minimal Chrome DevTools Protocol driver for the shape test: one
// headless Chromium, started once, loads pages one after another in a tab
// and reports each load event. It speaks the protocol's JSON messages over
// the browser's WebSocket endpoint (coder/websocket), which is all the
// test needs of a driver.

// chromiumFlags are the flags the shape test starts Chromium with: no
// background traffic of its own, no QUIC, so that every connection the
// tap sees is a page load's.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

type cdpBrowser struct {
	cmd     *exec.Cmd
	ws      *websocket.Conn
	nextID  int
	session string
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium starts the installed Chromium with chromiumFlags and extra,
// a fresh profile, and a tab to drive. Missing Chromium fails under CI.
func startChromium(t *testing.T, extra ...string) *cdpBrowser {
	t.Helper()
	bin := testenv.LookPath(t, "chromium", "apt-get install chromium")
	// Not t.TempDir: Chromium's helper processes outlive the browser's
	// kill by a moment and keep writing the profile, so its RemoveAll can
	// fail the test ("directory not empty"); the cleanup below retries.
	dir, err := os.MkdirTemp("", "samizdat-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+dir, "--remote-debugging-port=0")
	args = append(append(args, extra...), "about:blank")
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &cdpBrowser{cmd: cmd}
	t.Cleanup(func() {
		if b.ws != nil {
			b.ws.Close(websocket.StatusNormalClosure, "")
		}
		cmd.Process.Kill()
		cmd.Wait()
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium's profile %s is left behind: %v", dir, os.RemoveAll(dir))
	})
	// Chromium writes its port and the browser endpoint's path here.
	var endpoint string
	for deadline := time.Now().Add(30 * time.Second); endpoint == ""; {
		if data, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) == 2 {
				endpoint = "ws://127.0.0.1:" + lines[0] + lines[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("chromium did not open its DevTools endpoint within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, endpoint, nil)
	if err != nil {
		t.Fatalf("connecting to chromium's DevTools endpoint: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	b.ws = ws
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	b.session = attached.SessionID
	if err := b.call(ctx, b.session, "Page.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// call sends one command and waits for its answer, dropping events.
func (b *cdpBrowser) call(ctx context.Context, session, method string, params any, result any) error {
	_, err := b.send(ctx, session, method, params, result, "")
	return err
}

// send sends a command; with event set, it returns once that event arrives
// on session after the answer (or before it).
func (b *cdpBrowser) send(ctx context.Context, session, method string, params any, result any, event string) (json.RawMessage, error) {
	b.nextID++
	id := b.nextID
	msg := map[string]any{"id": id, "method": method, "sessionId": session}
	if session == "" {
		delete(msg, "sessionId")
	}
	if params != nil {
		msg["params"] = params
	}
	data, _ := json.Marshal(msg)
	if err := b.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return nil, fmt.Errorf("cdp: sending %s: %w", method, err)
	}
	answered, eventSeen := false, event == ""
	var eventParams json.RawMessage
	for !answered || !eventSeen {
		_, data, err := b.ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("cdp: waiting for %s: %w", method, err)
		}
		var m cdpMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("cdp: decoding a message: %w", err)
		}
		switch {
		case m.ID == id:
			if m.Error != nil {
				return nil, fmt.Errorf("cdp: %s: %s", method, m.Error.Message)
			}
			if result != nil {
				if err := json.Unmarshal(m.Result, result); err != nil {
					return nil, fmt.Errorf("cdp: decoding the answer to %s: %w", method, err)
				}
			}
			answered = true
		case m.Method == event && m.SessionID == session:
			eventSeen, eventParams = true, m.Params
		}
	}
	return eventParams, nil
}

// load navigates the tab to url and waits for its load event.
func (b *cdpBrowser) load(ctx context.Context, url string) error {
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if _, err := b.send(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &nav, "Page.loadEventFired"); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("cdp: loading %s: %s", url, nav.ErrorText)
	}
	return nil
}
