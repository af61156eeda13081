package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// TestRelayModeFlags: each tlsws deployment refuses the flags that would
// expose it (a backend on a public address) or leave it without what it
// needs, and says what to give.
func TestRelayModeFlags(t *testing.T) {
	for _, c := range []struct {
		f    relayFlags
		want string // substring of the error; "" means accepted
	}{
		{relayFlags{mode: "behind", listen: "0.0.0.0:8081", public: "w.example:443", host: "w.example"}, "loopback"},
		{relayFlags{mode: "behind", listen: "127.0.0.1:8081"}, "--public"},
		{relayFlags{mode: "behind", listen: "127.0.0.1:8081", public: "w.example:443", host: "w.example"}, ""},
		{relayFlags{mode: "behind", listen: "unix:/run/samizdat-relay/relay.sock", public: "w.example:443", host: "w.example"}, ""},
		{relayFlags{mode: "behind", listen: "unix:relay.sock", public: "w.example:443", host: "w.example"}, "absolute path"},
		{relayFlags{mode: "standalone", listen: "0.0.0.0:443", host: "w.example"}, "--cover-origin"},
		{relayFlags{mode: "standalone", listen: "0.0.0.0:443", coverOrigin: "127.0.0.1:8443"}, "--host"},
		{relayFlags{mode: "standalone", listen: "0.0.0.0:443", coverOrigin: "127.0.0.1:8443", host: "w.example"}, ""},
		{relayFlags{mode: "website"}, "unknown --mode"},
		{relayFlags{}, "--mode behind or --mode standalone"},
		{relayFlags{coverDir: "/srv/site"}, ""},
	} {
		err := c.f.checkMode()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v, want accepted", c.f, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want an error about %s", c.f, err, c.want)
		}
	}
}

// TestRelayShapeProfileFlag: --shape-profile puts the profile's link part
// in the relay's spec; a file that is not a profile, or the flag on
// another transport, is refused with what to do.
func TestRelayShapeProfileFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(good, []byte("# a cover\nS282@0 S282@0 C588@3 S414@5\nC598@0 S282@0 S282@0 S414@0\n"), 0o644)
	os.WriteFile(bad, []byte("C588@0 C300@1\n"), 0o644)
	e := env{home: dir}
	f := relayFlags{upstream: "127.0.0.1:1", transport: "tlsws", mode: "standalone", listen: "127.0.0.1:0", coverOrigin: "127.0.0.1:9", host: "w.example", state: dir, shapeProfile: good}
	if err := f.check(e); err != nil {
		t.Fatal(err)
	}
	ln, spec, err := tlswsListener(f)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	spec.Addr = "192.0.2.1:443" // what --public would give
	cfg, err := tlsws.ConfigFromSpec(spec)
	if err != nil || cfg.ShapeErr != nil || cfg.Shape.Traces() != 2 {
		t.Fatalf("the relay's spec carries no profile of 2 traces: %v, %v, %v", err, cfg.ShapeErr, spec.Params)
	}
	f.shapeProfile = bad
	if err := f.check(e); err == nil || !strings.Contains(err.Error(), "record-shape") {
		t.Fatalf("a malformed profile: %v, want an error saying to record it again", err)
	}
	f.shapeProfile, f.transport = good, "obfs4"
	if err := f.check(e); err == nil || !strings.Contains(err.Error(), "tlsws") {
		t.Fatalf("--shape-profile with obfs4: %v", err)
	}
}
