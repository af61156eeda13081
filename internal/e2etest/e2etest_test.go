package e2etest

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStartCollectsOutputAndExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, sh, []string{"E2ETEST_X=seen"}, "-c", `echo "ready: $E2ETEST_X"; echo oops >&2; exit 3`)
	err = p.Wait(t, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	if got := p.LineAfter("ready:"); got != "seen" {
		t.Errorf("LineAfter = %q, want the environment's value", got)
	}
	if p.Stderr.String() != "oops\n" || p.Running() {
		t.Errorf("stderr %q, running %v", p.Stderr.String(), p.Running())
	}
}

func TestStopEndsALongRunningChild(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, sh, nil, "-c", "exec sleep 60")
	if !WaitFor(time.Second, p.Running) {
		t.Fatal("the child is not running")
	}
	start := time.Now()
	p.Stop(t, 10*time.Second)
	if p.Running() || time.Since(start) > 5*time.Second {
		t.Errorf("Stop took %v; running %v", time.Since(start), p.Running())
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and
// ends the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyFailsNamingWhatItWaitedFor(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(rec, "the moon", 30*time.Millisecond, func() bool { return false })
	}()
	<-done
	if !strings.Contains(rec.msg, "the moon") {
		t.Fatalf("Eventually on a cond that never holds: message %q, want one naming what it waited for", rec.msg)
	}
	n := 0
	Eventually(t, "the third poll", time.Second, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("Eventually returned after %d polls, want 3", n)
	}
}
