//go:build linux

package postgres

import (
	"context"
	"errors"
	"fmt"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tests run their own throwaway PostgreSQL server, one per test
// binary: initdb into a temporary directory, then postgres listening only
// on a unix socket there. Each test database is created by newTestDB and
// dropped when its test ends.

// testServer is the package's server; nil when skipReason says why not.
var (
	testServer *pgServer
	skipReason string
)

func TestMain(m *testing.M) {
	srv, err := startServer()
	if err != nil {
		skipReason = err.Error()
	}
	testServer = srv
	code := m.Run()
	if srv != nil {
		srv.stop()
	}
	os.Exit(code)
}

type pgServer struct {
	base string // temporary directory: data/ and the socket
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exited
	dbs  atomic.Int64
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
	return nil, 0, 0, fmt.Errorf("running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

func startServer() (*pgServer, error) {
	initdb, postgres := findBin("initdb"), findBin("postgres")
	if initdb == "" || postgres == "" {
		return nil, fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: apt-get install postgresql")
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "samizdat-pg-")
	if err != nil {
		return nil, err
	}
	srv := &pgServer{base: base, done: make(chan struct{})}
	fail := func(err error) (*pgServer, error) {
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
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	logf, err := os.Create(filepath.Join(base, "server.log"))
	if err != nil {
		return fail(err)
	}
	// fsync stays on: the suite's durability cases reopen the store, and
	// the test server should behave like a production one.
	srv.cmd = run(exec.Command(postgres, "-D", data, "-k", base, "-c", "listen_addresses=", "-c", "max_connections=200"))
	srv.cmd.Stdout, srv.cmd.Stderr = logf, logf
	if err := srv.cmd.Start(); err != nil {
		logf.Close()
		return fail(fmt.Errorf("starting postgres: %w", err))
	}
	go func() { srv.cmd.Wait(); logf.Close(); close(srv.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(context.Background(), srv.dsn("postgres"))
		if err == nil {
			conn.Close(context.Background())
			return srv, nil
		}
		select {
		case <-srv.done:
			log, _ := os.ReadFile(filepath.Join(base, "server.log"))
			os.RemoveAll(base)
			return nil, fmt.Errorf("postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dsn names database db on the test server.
func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", s.base, db)
}

// stop shuts the server down (fast shutdown) and removes its directory.
func (s *pgServer) stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.base)
}

// admin runs one statement on the server's postgres database.
func (s *pgServer) admin(t testing.TB, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newTestDB creates a fresh database for t, dropped when t ends, and
// returns its DSN. It skips t when there is no server.
func newTestDB(t testing.TB) string {
	t.Helper()
	if testServer == nil {
		testenv.Require(t, errors.New(skipReason), "a PostgreSQL server", "apt-get install postgresql (the tests start their own server from its binaries)")
	}
	name := fmt.Sprintf("samizdat_test_%d", testServer.dbs.Add(1))
	testServer.admin(t, "CREATE DATABASE "+name)
	t.Cleanup(func() { testServer.admin(t, "DROP DATABASE "+name+" WITH (FORCE)") })
	return testServer.dsn(name)
}
