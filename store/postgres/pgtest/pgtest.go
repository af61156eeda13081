//go:build linux

// Package pgtest runs a throwaway PostgreSQL server for tests: initdb into
// a temporary directory, then postgres listening only on a unix socket
// there. The store/postgres tests and the e2e cluster tests both start
// theirs through it. It is for tests only.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install says what to install when Start finds no server binaries.
const Install = "apt-get install postgresql (the tests start their own server from its binaries)"

// Server is a running throwaway server.
type Server struct {
	base string // temporary directory: data/, the socket and server.log
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exited
}

// findBin looks for a PostgreSQL server program on PATH, then where
// Debian's postgresql package puts it.
func findBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

// credential returns who runs the server: as root, PostgreSQL refuses to
// start, so it runs as user postgres (or nobody).
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
	}
	return nil, 0, 0, fmt.Errorf("pgtest: running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

// Start initializes and starts a server that accepts maxConnections
// connections and waits until it accepts one. fsync stays on, so that a
// test that reopens a store sees what a production server would keep.
func Start(maxConnections int) (*Server, error) {
	initdb, postgres := findBin("initdb"), findBin("postgres")
	if initdb == "" || postgres == "" {
		return nil, fmt.Errorf("pgtest: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin")
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "samizdat-pg-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(base)
		return nil, err
	}
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return fail(err)
	}
	for _, dir := range []string{base, data} {
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	run := func(cmd *exec.Cmd) *exec.Cmd {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		cmd.Dir = base
		cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+base)
		return cmd
	}
	if out, err := run(exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %v\n%s", err, out))
	}
	logf, err := os.Create(filepath.Join(base, "server.log"))
	if err != nil {
		return fail(err)
	}
	s := &Server{base: base, done: make(chan struct{})}
	s.cmd = run(exec.Command(postgres, "-D", data, "-k", base, "-c", "listen_addresses=", "-c", fmt.Sprintf("max_connections=%d", maxConnections)))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return fail(fmt.Errorf("pgtest: starting postgres: %w", err))
	}
	go func() { s.cmd.Wait(); logf.Close(); close(s.done) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady waits until the server accepts a connection; on failure the
// server is stopped and its directory removed.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := pgx.Connect(context.Background(), s.DSN("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.base, "server.log"))
			os.RemoveAll(s.base)
			return fmt.Errorf("pgtest: postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("pgtest: postgres did not accept connections within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DSN names database db on the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", s.base, db)
}

// URL names database db on the server as a postgres:// URL, the form the
// server's --store flag takes.
func (s *Server) URL(db string) string {
	return "postgres:///" + db + "?host=" + url.QueryEscape(s.base) + "&user=postgres&sslmode=disable"
}

// Admin runs one statement on the server's postgres database.
func (s *Server) Admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connecting: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.base)
}
