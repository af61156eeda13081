package pt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config says how to run a pluggable-transport binary.
type Config struct {
	// Path is the PT executable, e.g. "/usr/bin/obfs4proxy" or
	// "/usr/bin/lyrebird". It comes from local configuration, never from a
	// link or an endpoint book.
	Path string
	// Args are extra command-line arguments (e.g. "-enableLogging").
	Args []string
	// StateDir is TOR_PT_STATE_LOCATION, where the PT keeps its state (an
	// obfs4 server's keys). Empty means a fresh temporary directory that
	// Close removes.
	StateDir string
	// Log, when set, receives the child's stderr and its LOG and STATUS
	// lines. The last 8 KiB are also kept for error messages either way.
	Log io.Writer
	// StartTimeout bounds the child's configuration (until "CMETHODS
	// DONE" / "SMETHODS DONE"); zero means 30 s.
	StartTimeout time.Duration
}

// process is a running PT child and the protocol state read from it.
type process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser // kept open: TOR_PT_EXIT_ON_STDIN_CLOSE=1
	tempDir string         // removed on close when StateDir was empty
	logs    *tail

	exited  chan struct{} // closed when the child has exited
	waitErr error         // set before exited is closed

	closeOnce sync.Once
	closed    atomic.Bool // close was called
}

// methodLine is one CMETHOD or SMETHOD result.
type methodLine struct {
	name    string
	addr    string            // host:port the PT listens on
	args    map[string]string // SMETHOD ARGS
	errText string            // from *METHOD-ERROR
}

// start launches cfg.Path with env (the TOR_PT_* variables) and reads its
// stdout until doneKeyword ("CMETHODS" or "SMETHODS") DONE, collecting the
// method lines with prefix methodKeyword ("CMETHOD" or "SMETHOD").
func start(ctx context.Context, cfg Config, env []string, methodKeyword string) (*process, []methodLine, error) {
	if cfg.Path == "" {
		return nil, nil, fmt.Errorf("pt: starting: no PT binary configured")
	}
	p := &process{logs: newTail(8 << 10), exited: make(chan struct{})}
	stateDir, err := p.makeStateDir(cfg.StateDir)
	if err != nil {
		return nil, nil, err
	}

	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = append(parentEnv(),
		"TOR_PT_MANAGED_TRANSPORT_VER=1", // pt-spec §3.2.1
		"TOR_PT_STATE_LOCATION="+stateDir,
		"TOR_PT_EXIT_ON_STDIN_CLOSE=1",
	)
	cmd.Env = append(cmd.Env, env...)
	var logw io.Writer = p.logs
	if cfg.Log != nil {
		logw = io.MultiWriter(p.logs, cfg.Log)
	}
	cmd.Stderr = logw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.removeTemp()
		return nil, nil, fmt.Errorf("pt: starting: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		p.removeTemp()
		return nil, nil, fmt.Errorf("pt: starting: %w", err)
	}
	if err := cmd.Start(); err != nil {
		p.removeTemp()
		return nil, nil, fmt.Errorf("pt: starting %s: %w", cfg.Path, err)
	}
	p.cmd = cmd

	type result struct {
		methods []methodLine
		err     error
	}
	res := make(chan result, 1)
	lines := bufio.NewScanner(stdout)
	go func() {
		methods, err := readConfig(lines, methodKeyword, logw)
		res <- result{methods, err}
		// Keep draining stdout (LOG/STATUS lines) for the child's life.
		for lines.Scan() {
			logLine(logw, parseLine(lines.Text()))
		}
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-res:
		if r.err != nil {
			p.close()
			return nil, nil, fmt.Errorf("pt: configuring %s: %w%s", cfg.Path, r.err, p.logs.suffix())
		}
		return p, r.methods, nil
	case <-timer.C:
		p.close()
		return nil, nil, fmt.Errorf("pt: configuring %s: no %s DONE within %v%s", cfg.Path, methodKeyword+"S", timeout, p.logs.suffix())
	case <-ctx.Done():
		p.close()
		return nil, nil, fmt.Errorf("pt: configuring %s: %w", cfg.Path, ctx.Err())
	}
}

// makeStateDir makes the PT's state directory (TOR_PT_STATE_LOCATION,
// pt-spec §3.2.1): dir if set, else a temporary one the process removes.
func (p *process) makeStateDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "samizdat-pt-")
		if err != nil {
			return "", fmt.Errorf("pt: starting: state dir: %w", err)
		}
		p.tempDir = d
		return d, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("pt: starting: state dir: %w", err)
	}
	return dir, nil
}

// parentEnv is our environment without TOR_PT_* variables, so a samizdat
// started by tor (or a test harness) never leaks its own into the child.
func parentEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOR_PT_") {
			env = append(env, kv)
		}
	}
	return env
}

// readConfig reads the configuration phase (pt-spec §3.3): VERSION, then
// method lines, until "<methodKeyword>S DONE". Errors end it.
func readConfig(lines *bufio.Scanner, methodKeyword string, logw io.Writer) ([]methodLine, error) {
	var methods []methodLine
	versionOK := false
	for lines.Scan() {
		l := parseLine(lines.Text())
		switch l.keyword {
		case "VERSION": // pt-spec §3.3.1
			if len(l.args) != 1 || l.args[0] != "1" {
				return nil, fmt.Errorf("child chose unsupported protocol version %q", l.rest(0))
			}
			versionOK = true
		case "VERSION-ERROR":
			return nil, fmt.Errorf("child supports no protocol version we offer (1)")
		case "ENV-ERROR":
			return nil, fmt.Errorf("child rejected its environment: %s", l.rest(0))
		case "PROXY-ERROR":
			return nil, fmt.Errorf("child rejected the upstream proxy: %s", l.rest(0))
		case methodKeyword: // pt-spec §3.3.2 CMETHOD / §3.3.3 SMETHOD
			if !versionOK {
				return nil, fmt.Errorf("%s before VERSION", methodKeyword)
			}
			m, err := parseMethod(methodKeyword, l)
			if err != nil {
				return nil, err
			}
			methods = append(methods, m)
		case methodKeyword + "-ERROR":
			if len(l.args) < 1 {
				return nil, fmt.Errorf("malformed %s-ERROR line", methodKeyword)
			}
			methods = append(methods, methodLine{name: l.args[0], errText: l.rest(1)})
		case methodKeyword + "S":
			if len(l.args) == 1 && l.args[0] == "DONE" {
				if !versionOK {
					return nil, fmt.Errorf("%sS DONE before VERSION", methodKeyword)
				}
				return methods, nil
			}
		default:
			logLine(logw, l)
		}
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("reading child's stdout: %w", err)
	}
	return nil, fmt.Errorf("child exited during configuration")
}

// parseMethod reads "CMETHOD <name> socks5 <addr>" or
// "SMETHOD <name> <addr> [ARGS:k=v,...]".
func parseMethod(keyword string, l ptLine) (methodLine, error) {
	if keyword == "CMETHOD" {
		if len(l.args) < 3 {
			return methodLine{}, fmt.Errorf("malformed CMETHOD line")
		}
		m := methodLine{name: l.args[0], addr: l.args[2]}
		if l.args[1] != "socks5" {
			// pt-spec allows socks4; we speak only socks5.
			m.errText = "child offers " + l.args[1] + ", samizdat speaks only socks5"
		}
		return m, nil
	}
	if len(l.args) < 2 {
		return methodLine{}, fmt.Errorf("malformed SMETHOD line")
	}
	m := methodLine{name: l.args[0], addr: l.args[1], args: map[string]string{}}
	for _, opt := range l.args[2:] {
		if v, ok := strings.CutPrefix(opt, "ARGS:"); ok {
			args, err := parseSmethodArgs(v)
			if err != nil {
				return methodLine{}, err
			}
			m.args = args
		}
	}
	return m, nil
}

// logLine forwards LOG and STATUS lines (pt-spec §3.3.4, §3.3.5) to the log.
func logLine(w io.Writer, l ptLine) {
	if l.keyword == "LOG" || l.keyword == "STATUS" {
		fmt.Fprintf(w, "pt %s %s\n", l.keyword, l.rest(0))
	}
}

// close ends the child as pt-spec §3.4 says: close its stdin (the child
// exits by itself with TOR_PT_EXIT_ON_STDIN_CLOSE=1), then SIGTERM, then
// SIGKILL; it waits for the exit and removes a temporary state dir.
func (p *process) close() {
	p.closed.Store(true)
	p.closeOnce.Do(func() {
		if p.cmd == nil {
			p.removeTemp()
			return
		}
		p.stdin.Close()
		steps := []func(){
			func() { p.cmd.Process.Signal(syscall.SIGTERM) },
			func() { p.cmd.Process.Kill() },
		}
		for _, step := range steps {
			select {
			case <-p.exited:
			case <-time.After(2 * time.Second):
				step()
				continue
			}
			break
		}
		<-p.exited
		p.removeTemp()
	})
}

// closing reports whether close was called (an exit is then expected).
func (p *process) closing() bool { return p.closed.Load() }

func (p *process) removeTemp() {
	if p.tempDir != "" {
		os.RemoveAll(p.tempDir)
	}
}

// exitErr reports how the child ended, with its last log lines; nil while
// it runs.
func (p *process) exitErr() error {
	select {
	case <-p.exited:
	default:
		return nil
	}
	err := p.waitErr
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("pt: child %s: %w%s", p.cmd.Path, err, p.logs.suffix())
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex // guards buf
	buf []byte
	max int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

// suffix returns "; last output: ..." or "" when the child said nothing.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "; last output: " + s
}
