package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/censor/netns"
)

// proc is a child process running in a namespace, its stdout read line by
// line, its stderr kept in a file of the run's directory.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, closed at EOF
	done  chan struct{}
	err   error // after done
	log   string
}

// startProc starts bin args... in node's namespace.
func startProc(ctx context.Context, topo *netns.Topology, dir, node, name, bin string, args ...string) (*proc, error) {
	cmd, err := topo.Command(ctx, node, bin, args...)
	if err != nil {
		return nil, err
	}
	cmd.WaitDelay = 5 * time.Second
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("lab: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, stdin: in, lines: make(chan string, 4096), done: make(chan struct{}), log: logPath}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// waitLine returns the first stdout line for which match is true.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, match func(string) bool) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("lab: %s exited before it was ready (%s): %s", p.name, p.exitText(), p.tail())
			}
			if match(l) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("lab: %s not ready after %v: %s", p.name, timeout, p.tail())
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (p *proc) exitText() string {
	select {
	case <-p.done:
		if p.err != nil {
			return p.err.Error()
		}
		return "exit 0"
	case <-time.After(2 * time.Second):
		return "still running"
	}
}

// tail is the end of the process's stderr, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}

// send writes a command line to the process's stdin.
func (p *proc) send(cmd UserCommand) error {
	b, _ := json.Marshal(cmd)
	_, err := p.stdin.Write(append(b, '\n'))
	return err
}

// stop closes stdin (a lab user exits on EOF), then sends SIGTERM, then
// kills, waiting at most a few seconds for each.
func (p *proc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
		return
	case <-time.After(3 * time.Second):
	}
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// userStream collects a lab user's events as they arrive.
type userStream struct {
	mu     sync.Mutex
	events []UserEvent
	poke   chan struct{}
}

func newUserStream(p *proc) *userStream {
	s := &userStream{poke: make(chan struct{}, 1)}
	go func() {
		for l := range p.lines {
			var ev UserEvent
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				continue
			}
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
			select {
			case s.poke <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

func (s *userStream) snapshot() []UserEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]UserEvent(nil), s.events...)
}

// find returns the first event for which match is true.
func (s *userStream) find(match func(UserEvent) bool) (UserEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if match(ev) {
			return ev, true
		}
	}
	return UserEvent{}, false
}

// waitFor waits until cond holds over the events so far.
func waitFor(ctx context.Context, timeout time.Duration, streams []*userStream, cond func() bool) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline:
			return cond()
		case <-tick.C:
		}
	}
	return true
}
