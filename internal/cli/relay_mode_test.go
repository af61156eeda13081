package cli

import (
	"strings"
	"testing"
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
