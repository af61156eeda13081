// Package e2etest runs child processes for the end-to-end tests (e2e/,
// web/e2e, tui): it starts a binary in the background, collects its output
// while the test reads it, waits for the lines it prints once ready, and
// kills it when the test ends; or it runs one command to its end (a CLI
// command of a test user's) and returns what it printed.
package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a
// child's output (or a logger's) that the test reads while it grows.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Proc is a child process that runs in the background.
type Proc struct {
	Cmd    *exec.Cmd
	Stdout *Buffer
	Stderr *Buffer
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// Start runs bin with args in the background; env adds to the environment.
// The process is killed at the end of the test if it still runs, and the
// end of its stderr goes to the test's log if the test failed.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, err := StartCmd(cmd)
	if err != nil {
		t.Fatalf("starting %s %v: %v", bin, args, err)
	}
	// Cleanups run last first: the log is written once the child is gone.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s stderr:\n%s", commandLine(bin, args), Tail(p.Stderr.String(), 8000))
		}
	})
	t.Cleanup(p.Kill)
	return p
}

// StartSelf runs this test binary again in the background as a helper
// process that runs no tests (-test.run=^$), with env added to the
// environment: the package's TestMain sees env and runs the helper (a
// server, a flooder, a client) instead of the tests. See Start.
func StartSelf(t testing.TB, env ...string) *Proc {
	t.Helper()
	return Start(t, os.Args[0], env, "-test.run=^$")
}

// MustRunSelf is StartSelf run to its end, within d, as MustRun runs a
// command; it returns the helper's stdout.
func MustRunSelf(t testing.TB, d time.Duration, env ...string) string {
	t.Helper()
	return MustRun(t, d, os.Args[0], env, "-test.run=^$")
}

// CLIEnv is the environment a samizdat CLI child needs in a test: the
// store's passphrase, the cheap test KDF, and a connect timeout short
// enough that a lost server fails the test instead of hanging it.
func CLIEnv(passphrase string) []string {
	return []string{"SAMIZDAT_PASSPHRASE=" + passphrase, "SAMIZDAT_INSECURE_TEST_KDF=1", "SAMIZDAT_CONNECT_TIMEOUT=15s"}
}

// Run runs bin with args to its end, killing it after d, with env added to
// the environment; it returns the child's stdout and stderr and how it
// exited.
func Run(d time.Duration, bin string, env []string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// MustRun is Run that fails t, showing the child's output, unless the
// child exits 0 within d; it returns the child's stdout.
func MustRun(t testing.TB, d time.Duration, bin string, env []string, args ...string) string {
	t.Helper()
	out, errOut, err := Run(d, bin, env, args...)
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", commandLine(bin, args), err, Tail(out, 8000), Tail(errOut, 8000))
	}
	return out
}

// commandLine names a child in messages: the program's file name and its
// arguments.
func commandLine(bin string, args []string) string {
	return strings.Join(append([]string{filepath.Base(bin)}, args...), " ")
}

// Tail is the end of s, at most n bytes, marked with … where cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// StartCmd starts cmd with its stdout and stderr collected; the caller
// kills it.
func StartCmd(cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Cmd: cmd, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	if p.Running() {
		p.Cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// Stop sends SIGTERM and waits up to d for a clean exit.
func (p *Proc) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	if p.Running() {
		p.Cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(d):
		p.Kill()
		t.Fatalf("%v did not stop within %v after SIGTERM; stderr:\n%s", p.Cmd.Args, d, p.Stderr.String())
	}
}

// Wait waits up to d for the process to exit by itself and returns how it
// exited.
func (p *Proc) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.Kill()
		t.Fatalf("%v still running after %v; stdout:\n%s\nstderr:\n%s", p.Cmd.Args, d, p.Stdout.String(), p.Stderr.String())
		return nil
	}
}

// LineAfter returns the text after prefix on the first line of the
// process's stdout that starts with it, once indented ("" if none does
// yet).
func (p *Proc) LineAfter(prefix string) string {
	sc := bufio.NewScanner(strings.NewReader(p.Stdout.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimLeft(sc.Text(), " \t"), prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WaitLines waits up to d for the process's stdout to have a line that
// starts with each of prefixes, and returns the text after each (see
// LineAfter): the address, link or URL a server prints once it is ready.
// It kills the process and fails t, showing its output, if d passes or the
// process exits first.
func (p *Proc) WaitLines(t testing.TB, d time.Duration, prefixes ...string) []string {
	t.Helper()
	vals := make([]string, len(prefixes))
	missing := func() string {
		for i, prefix := range prefixes {
			if vals[i] = p.LineAfter(prefix); vals[i] == "" {
				return prefix
			}
		}
		return ""
	}
	WaitFor(d, func() bool { return missing() == "" || !p.Running() })
	if m := missing(); m != "" {
		p.Kill()
		t.Fatalf("%v printed no %q line within %v; stdout:\n%s\nstderr:\n%s", p.Cmd.Args, m, d, p.Stdout.String(), Tail(p.Stderr.String(), 8000))
	}
	return vals
}

// WaitAccepting waits up to d until something accepts TCP connections on
// addr (the port the process was told to listen on). It kills the process
// and fails t, showing its output, if d passes or the process exits first.
func (p *Proc) WaitAccepting(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	accepts := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !WaitFor(d, func() bool { return !p.Running() || accepts() }) || !p.Running() {
		p.Kill()
		t.Fatalf("%v does not accept on %s within %v; stdout:\n%s\nstderr:\n%s", p.Cmd.Args, addr, d, Tail(p.Stdout.String(), 8000), Tail(p.Stderr.String(), 8000))
	}
}

// WaitFor polls cond every 20 ms until it holds or d passes.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// Eventually polls cond every 10 ms until it holds, and fails the test
// naming what it waited for when d passes first.
func Eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
