package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"golang.org/x/sys/unix"
)

// One home, one live session (issue #11). The process that runs a client
// on a home holds client.LockHome. A long-running one (`samizdat listen`,
// the chat UI) also serves HOME/ctl.sock: another samizdat command on the
// same home that finds the lock taken hands its whole command line to it
// there, and prints what comes back, so that it runs on the one live
// client instead of starting a second session of the same device.
//
// The socket is a unix socket in the home directory (0700), mode 0600,
// and the server checks with SO_PEERCRED that the peer runs as the same
// user. A command that runs there does not prove the passphrase: whoever
// runs as this user can already read the memory of the running client.
//
// Protocol, one JSON object a line: the caller sends
// {"args":[...]} and then {"in":<bytes>} frames of its stdin and
// {"eof":true}; the server sends {"out":<bytes>} and {"err":<bytes>}
// frames and ends with {"exit":N}.

const ctlSocket = "ctl.sock"

// maxSocketPath is what fits in sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

type ctlFrame struct {
	Args []string `json:"args,omitempty"`
	In   []byte   `json:"in,omitempty"`
	EOF  bool     `json:"eof,omitempty"`
	Out  []byte   `json:"out,omitempty"`
	Err  []byte   `json:"err,omitempty"`
	Exit *int     `json:"exit,omitempty"`
}

// forwardable names the commands that may run inside the process holding
// the home: those that use an existing account (never init, listen, or
// a command that does not open a home).
var forwardable = map[string]bool{
	"add": true, "contacts": true, "chats": true, "group": true, "invite": true, "read": true,
	"safety": true, "send": true, "status": true, "relay-add": true, "device": true,
	"devices": true, "channel": true, "outbox": true,
}

// daemon is the client this process serves other commands with, if any.
var daemon atomic.Pointer[client.Client]

// ServeHome serves HOME/ctl.sock with c until ctx ends: commands of the
// same user on the same home run on c. The caller must hold the home's
// lock (client.LockHome) and keep c started. The chat UI uses it too.
func ServeHome(ctx context.Context, home string, c *client.Client) error {
	path := filepath.Join(home, ctlSocket)
	if len(path) > maxSocketPath {
		return fmt.Errorf("the home path is too long for its control socket (%d > %d bytes); use a shorter --home", len(path), maxSocketPath)
	}
	os.Remove(path) // left by a process that died; we hold the lock
	old := unix.Umask(0o077)
	ln, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return fmt.Errorf("opening the control socket: %w", err)
	}
	daemon.Store(c)
	go func() {
		<-ctx.Done()
		ln.Close()
		os.Remove(path)
	}()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveCtl(conn.(*net.UnixConn), home, c)
		}
	}()
	return nil
}

// sameUser reports whether the peer of conn runs as this process's user.
func sameUser(conn *net.UnixConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	return cerr == nil && cred != nil && int(cred.Uid) == os.Getuid()
}

// ctlWriter sends what a command writes as frames of one kind.
type ctlWriter struct {
	mu  *sync.Mutex
	enc *json.Encoder
	err bool
}

func (w ctlWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := ctlFrame{Out: p}
	if w.err {
		f = ctlFrame{Err: p}
	}
	if err := w.enc.Encode(f); err != nil {
		return 0, err
	}
	return len(p), nil
}

func serveCtl(conn *net.UnixConn, home string, c *client.Client) {
	defer conn.Close()
	if !sameUser(conn) {
		return
	}
	dec := json.NewDecoder(conn)
	var req ctlFrame
	if err := dec.Decode(&req); err != nil {
		return
	}
	var mu sync.Mutex
	enc := json.NewEncoder(conn)
	stdout, stderr := ctlWriter{&mu, enc, false}, ctlWriter{&mu, enc, true}
	inR, inW := io.Pipe()
	go func() {
		for {
			var f ctlFrame
			if err := dec.Decode(&f); err != nil || f.EOF {
				inW.Close()
				return
			}
			if _, err := inW.Write(f.In); err != nil {
				return
			}
		}
	}()
	code := runShared(req.Args, inR, stdout, stderr, home, c)
	inR.Close()
	mu.Lock()
	enc.Encode(ctlFrame{Exit: &code})
	mu.Unlock()
}

// runShared runs one command line on the shared client c.
func runShared(args []string, stdin io.Reader, stdout, stderr io.Writer, home string, c *client.Client) int {
	g, args, err := parseGlobal(args)
	if err != nil {
		fmt.Fprintf(stderr, "samizdat: %v\n", err)
		return 2
	}
	if len(args) == 0 || !forwardable[args[0]] {
		fmt.Fprintf(stderr, "samizdat: this command cannot run beside the process that holds the home\n")
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return 2
	}
	return cmd.run(env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr, home: g.home, shared: c, sharedHome: home})
}

// forwardedError: the command ran in the process holding the home, which
// printed its output; the command exits with code.
type forwardedError struct{ code int }

func (e *forwardedError) Error() string {
	return fmt.Sprintf("ran in the running samizdat (exit %d)", e.code)
}

// forward runs e's command line in the process serving home's control
// socket. It returns false if nothing serves it.
func forward(e env, home string) (int, bool) {
	conn, err := net.DialTimeout("unix", filepath.Join(home, ctlSocket), 2*time.Second)
	if err != nil {
		return 0, false
	}
	defer conn.Close()
	enc := json.NewEncoder(conn)
	if err := enc.Encode(ctlFrame{Args: e.orig}); err != nil {
		return 0, false
	}
	var encMu sync.Mutex
	if e.stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := e.stdin.Read(buf)
				encMu.Lock()
				if n > 0 {
					enc.Encode(ctlFrame{In: buf[:n]})
				}
				if err != nil {
					enc.Encode(ctlFrame{EOF: true})
					encMu.Unlock()
					return
				}
				encMu.Unlock()
			}
		}()
	}
	dec := json.NewDecoder(conn)
	for {
		var f ctlFrame
		if err := dec.Decode(&f); err != nil {
			fmt.Fprintf(e.stderr, "samizdat: the running samizdat on %s stopped before the command ended; run it again\n", home)
			return 1, true
		}
		if f.Out != nil {
			e.stdout.Write(f.Out)
		}
		if f.Err != nil {
			e.stderr.Write(f.Err)
		}
		if f.Exit != nil {
			return *f.Exit, true
		}
	}
}

// lockOrForward takes home's lock for e's command. If the lock is taken,
// it hands the command to the process serving the home (a
// *forwardedError carries its exit code) or, if that process serves no
// socket (a short command), waits up to 30 s for the lock.
func lockOrForward(e env, home string) (*client.HomeLock, error) {
	return lockHomeWaiting(home, func(*client.HomeBusyError) error {
		if _, rest, _ := parseGlobal(e.orig); len(rest) > 0 && forwardable[rest[0]] {
			if code, ok := forward(e, home); ok {
				return &forwardedError{code}
			}
		}
		return nil
	})
}

// lockHomeWaiting takes home's lock, waiting up to 30 s while another
// process holds it; each time it is busy, onBusy may end the wait with an
// error of its own. SAMIZDAT_TEST_NO_HOME_LOCK=1 takes no lock.
func lockHomeWaiting(home string, onBusy func(*client.HomeBusyError) error) (*client.HomeLock, error) {
	if noHomeLock() {
		return nil, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := client.LockHome(home)
		var busy *client.HomeBusyError
		if !errors.As(err, &busy) {
			return l, err
		}
		if berr := onBusy(busy); berr != nil {
			return nil, berr
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noHomeLock is for tests only: SAMIZDAT_TEST_NO_HOME_LOCK=1 turns the
// home lock off, to show what the chaos test (e2e) finds without it.
func noHomeLock() bool { return os.Getenv("SAMIZDAT_TEST_NO_HOME_LOCK") == "1" }
