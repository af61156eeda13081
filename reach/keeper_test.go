package reach

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// lineServer is an in-test server that greets every connection with a line
// and can be killed (listener and connections closed) and restarted on the
// same address.
type lineServer struct {
	t     *testing.T
	addr  string
	greet string

	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns []net.Conn
}

func startLineServer(t *testing.T, addr, greet string) *lineServer {
	s := &lineServer{t: t, addr: addr, greet: greet}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *lineServer) start() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			fmt.Fprintln(c, s.greet)
		}
	}()
}

func (s *lineServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// tcpFactory dials Spec.Addr over plain TCP, as transport/direct does.
func tcpFactory(c Candidate) (transport.Dialer, error) {
	return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", c.Spec.Addr)
	}), nil
}

// lineSession plays the caller's handshake: the right server says HELLO;
// anything else is the wrong server and the path is rejected.
func lineSession(ctx context.Context, p Path) error {
	stop := context.AfterFunc(ctx, func() { p.Conn.Close() })
	defer stop()
	r := bufio.NewReader(p.Conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "HELLO" {
		return fmt.Errorf("%w: the server is not the one pinned", ErrPathRejected)
	}
	_, err = r.ReadString('\n') // the session, until the path dies
	return err
}

func TestKeeperReconnects(t *testing.T) {
	wrong := startLineServer(t, "127.0.0.1:0", "WRONG")
	good := startLineServer(t, "127.0.0.1:0", "HELLO")
	cs := []Candidate{
		{ID: "impostor", Kind: KindRelay, Label: "A", Spec: transport.Spec{Name: "direct", Addr: wrong.addr}},
		{ID: "home", Kind: KindDirect, Label: "B", Spec: transport.Spec{Name: "direct", Addr: good.addr}, Signed: true},
	}
	racer := NewRacer(RacerConfig{Factory: tcpFactory, Stagger: 50 * time.Millisecond,
		Backoff: Backoff{Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}})
	statuses := make(chan Status, 1000)
	k := NewKeeper(KeeperConfig{
		Racer:      racer,
		Network:    func() string { return "lab" },
		Candidates: func() []Candidate { return cs },
		Session:    lineSession,
		MinHealthy: 50 * time.Millisecond,
		OnStatus: func(s Status) {
			select {
			case statuses <- s:
			default:
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()

	waitConnected := func(after time.Time) Status {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case s := <-statuses:
				if s.Connected && s.Path.ID == "home" && s.Since.After(after) {
					return s
				}
				if s.Connected && s.Path.ID != "home" && s.Path.ID != "impostor" {
					t.Fatalf("connected via %v", s.Path)
				}
			case <-deadline:
				t.Fatalf("not connected to the right server; status: %v", k.Status())
			}
		}
	}
	begin := time.Now()
	first := waitConnected(begin)
	if racer.Memory().Failures("lab", "impostor") == 0 {
		t.Error("the impostor was never rejected and backed off")
	}
	if got := k.Status().String(); !strings.HasPrefix(got, `connected via direct "B" (direct) since `) {
		t.Errorf("status %q", got)
	}

	// Kill the server: the keeper notices, keeps trying, and is back once
	// the server is restarted on the same address.
	time.Sleep(100 * time.Millisecond) // a healthy session, longer than MinHealthy
	good.kill()
	killed := time.Now()
	sawDown := false
	for !sawDown {
		select {
		case s := <-statuses:
			sawDown = !s.Connected && s.LastError != nil
		case <-time.After(5 * time.Second):
			t.Fatal("the keeper did not notice the dead server")
		}
	}
	if k.Status().Connected {
		t.Fatal("status still connected")
	}
	time.Sleep(300 * time.Millisecond)
	good.start()
	second := waitConnected(first.Since)
	t.Logf("reconnected %v after the kill (server down for 300ms); first connect took %v",
		second.Since.Sub(killed).Round(time.Millisecond), first.Since.Sub(begin).Round(time.Millisecond))

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

func TestStatusString(t *testing.T) {
	since := time.Date(2026, 5, 1, 12, 3, 0, 0, time.Local)
	s := Status{Connected: true, Since: since, Path: Candidate{ID: "r1", Kind: KindRelay, Label: "X", Spec: transport.Spec{Name: "tlsws"}, Signed: true}}
	if got, want := s.String(), `connected via relay "X" (tlsws) since 12:03`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s = Status{Since: since, Retry: since.Add(4 * time.Second), LastError: errors.New("every path failed")}
	if got, want := s.String(), "not connected since 12:03; next try at 12:03:04 (every path failed)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
