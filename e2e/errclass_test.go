package e2e

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestErrorClasses: each failure says what happened. A server that cannot
// prove the key of the link (possible interception) is not "check your
// network"; an address nobody answers is; an empty answer to `device
// approve` is no answer, not a possible takeover.
func TestErrorClasses(t *testing.T) {
	dir, srv := tempServer(t)
	env := []string{"SAMIZDAT_CONNECT_TIMEOUT=3s"}

	// The real server's address under another server's key: what an
	// interceptor in the path looks like to the client.
	other := startServer(t, dir+"/other", "127.0.0.1:0")
	forged := relink(t, other.link, other.addr, srv.addr)
	mitm := newUser(t, dir, "mitm")
	mitm.run(t, "init", "--server", forged, "--name", "m")
	_, errOut, err := mitm.tryEnv(env, "status")
	if err == nil || !strings.Contains(errOut, "possible interception") || strings.Contains(errOut, "check your network") {
		t.Errorf("status through a forged key: %v\n%s", err, errOut)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	gone := newUser(t, dir, "gone")
	gone.run(t, "init", "--server", relink(t, srv.link, srv.addr, dead), "--name", "g")
	_, errOut, err = gone.tryEnv(env, "status")
	if err == nil || !strings.Contains(errOut, "cannot reach the server") || strings.Contains(errOut, "interception") {
		t.Errorf("status with nobody at the address: %v\n%s", err, errOut)
	}

	// An empty stdin to device approve.
	alice := newUser(t, dir, "alice")
	alice.run(t, "init", "--server", srv.link, "--name", "alice")
	alice.run(t, "read")
	phone := start(t, cliEnv, "--home", dir+"/phone", "device", "link", "--server", srv.link, "--no-qr")
	code := phone.WaitLines(t, 30*time.Second, "samizdat device approve ")[0]
	stdout, stderr, err := alice.try("device", "approve", code) // stdin is empty (/dev/null)
	out := stdout + stderr
	if err == nil || !strings.Contains(out, "no answer was given") || strings.Contains(strings.ToLower(out), "takeover") {
		t.Errorf("device approve with an empty stdin: %v\n%s", err, out)
	}
}

// relink puts another address in a link (without the checksum, which
// no longer fits).
func relink(t *testing.T, link, from, to string) string {
	t.Helper()
	out := strings.Replace(link, url.QueryEscape(from), url.QueryEscape(to), 1)
	if out == link {
		t.Fatalf("no %s in %s", from, link)
	}
	return regexp.MustCompile(`&c=[0-9a-f]+$`).ReplaceAllString(out, "")
}
