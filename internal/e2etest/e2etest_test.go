package e2etest

import (
	"errors"
	"os/exec"
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
