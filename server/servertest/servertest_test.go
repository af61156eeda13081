package servertest_test

import (
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server/servertest"
)

// TestStartListensAndStopCloses: the server accepts TCP while it runs and
// refuses once stopped.
func TestStartListensAndStopCloses(t *testing.T) {
	s := servertest.Start(t, nil)
	c, err := net.DialTimeout("tcp", s.Link.Addrs[0], 5*time.Second)
	if err != nil {
		t.Fatalf("the server does not accept: %v", err)
	}
	c.Close()
	s.Stop()
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Link.Addrs[0], time.Second); err == nil {
		c.Close()
		t.Fatal("the stopped server still accepts")
	}
}
