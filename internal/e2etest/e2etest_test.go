package e2etest

import (
	"errors"
	"fmt"
	"net"
	"os"
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

func TestRunReturnsOutputAndMustRunFailsOnExitStatus(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := Run(10*time.Second, sh, []string{"E2ETEST_X=seen"}, "-c", `echo "x=$E2ETEST_X"; echo warn >&2`)
	if err != nil || out != "x=seen\n" || errOut != "warn\n" {
		t.Fatalf("Run = %q, %q, %v; want the child's stdout, stderr and no error", out, errOut, err)
	}
	if out := MustRun(t, 10*time.Second, sh, nil, "-c", "echo fine"); out != "fine\n" {
		t.Errorf("MustRun = %q", out)
	}
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		MustRun(rec, 10*time.Second, sh, nil, "-c", "echo said-this; echo and-that >&2; exit 4")
	}()
	<-done
	for _, want := range []string{"exit status 4", "said-this", "and-that", "sh -c"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("MustRun of a failing child: message %q lacks %q", rec.msg, want)
		}
	}
	start := time.Now()
	if _, _, err := Run(200*time.Millisecond, sh, nil, "-c", "exec sleep 30"); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("Run past its time: %v after %v, want the child killed", err, time.Since(start))
	}
}

func TestWaitLinesReturnsWhatFollowsEachPrefix(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, sh, nil, "-c", "echo 'listening on 127.0.0.1:9'; sleep 0.2; echo '    link: x://y'; exec sleep 30")
	got := p.WaitLines(t, 10*time.Second, "link: ", "listening on ") // the link indented
	if len(got) != 2 || got[0] != "x://y" || got[1] != "127.0.0.1:9" {
		t.Fatalf("WaitLines = %q", got)
	}

	// A child that exits without the line fails the test at once,
	// naming the line and showing what it printed.
	q := Start(t, sh, nil, "-c", "echo 'listening on 127.0.0.1:9'; echo crashed >&2; exit 1")
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		q.WaitLines(rec, 30*time.Second, "listening on ", "link: ")
	}()
	<-done
	if time.Since(start) > 10*time.Second {
		t.Errorf("WaitLines waited %v for a child that had exited", time.Since(start))
	}
	for _, want := range []string{`"link: "`, "crashed", "listening on 127.0.0.1:9"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("WaitLines on an exited child: message %q lacks %q", rec.msg, want)
		}
	}
}

func TestWaitAcceptingSeesTheListenerOrTheExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// The child is a stand-in: the test itself listens, a moment later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := Start(t, sh, nil, "-c", "exec sleep 30")
	p.WaitAccepting(t, ln.Addr().String(), 10*time.Second)

	q := Start(t, sh, nil, "-c", "echo no-port-for-you >&2; exit 2")
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.WaitAccepting(rec, "127.0.0.1:1", 30*time.Second)
	}()
	<-done
	if !strings.Contains(rec.msg, "127.0.0.1:1") || !strings.Contains(rec.msg, "no-port-for-you") {
		t.Errorf("WaitAccepting on an exited child: message %q, want the address and its stderr", rec.msg)
	}
}

// The helper of TestStartSelfRunsTheHelperNotTheTests: with
// E2ETEST_HELPER set, this test binary prints and exits instead of
// running its tests.
func TestMain(m *testing.M) {
	if v := os.Getenv("E2ETEST_HELPER"); v != "" {
		fmt.Println("helper says " + v)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartSelfRunsTheHelperNotTheTests(t *testing.T) {
	p := StartSelf(t, "E2ETEST_HELPER=in the background")
	if err := p.Wait(t, 30*time.Second); err != nil || p.Stdout.String() != "helper says in the background\n" {
		t.Fatalf("StartSelf: %v, stdout %q", err, p.Stdout.String())
	}
	if out := MustRunSelf(t, 30*time.Second, "E2ETEST_HELPER=to the end"); out != "helper says to the end\n" {
		t.Fatalf("MustRunSelf: stdout %q", out)
	}
}
