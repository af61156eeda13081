package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/buildtest"
	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// long enables the long variants (more kill cycles, more messages).
var long = flag.Bool("long", false, "run the long variants of the end-to-end tests")

// bin is the samizdat binary, built once by TestMain.
var bin string

const passphrase = "e2e correct horse battery staple"

func TestMain(m *testing.M) {
	flag.Parse()
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helperMain(h))
	}
	buildtest.Main(m, &bin, false)
}

// proc is a child process that runs in the background.
type proc = e2etest.Proc

// start runs bin with args in the background; env adds to the environment.
// The process is killed at the end of the test if it still runs.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	return e2etest.Start(t, bin, env, args...)
}

// server is a running 'samizdat server' child.
type server struct {
	*proc
	data, addr, link string
	extra            []string // more flags, kept across restarts
}

// startServer runs 'samizdat server' on data and listen (127.0.0.1:0 picks
// a port) with no admin listener and any extra flags, and waits for it to
// print its link.
func startServer(t testing.TB, data, listen string, extra ...string) *server {
	t.Helper()
	p := start(t, nil, append([]string{"server", "--data", data, "--listen", listen, "--admin="}, extra...)...)
	got := p.WaitLines(t, 15*time.Second, "samizdat server listening on ", "server link: ")
	return &server{proc: p, data: data, addr: got[0], link: got[1], extra: extra}
}

// tempServer runs a server on a free loopback port with its data in
// dir/server, dir being a fresh directory of the test's.
func tempServer(t testing.TB) (dir string, srv *server) {
	t.Helper()
	dir = t.TempDir()
	return dir, startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
}

// restart runs the server again on the same data directory and port (the
// link, which holds the key and the address, stays the same).
func (s *server) restart(t *testing.T) *server {
	t.Helper()
	// Go's listeners set SO_REUSEADDR: the port of a killed server binds
	// again at once.
	ns := startServer(t, s.data, s.addr, s.extra...)
	if ns.link != s.link {
		t.Fatalf("restarted server has another link: %q, was %q", ns.link, s.link)
	}
	return ns
}

// user is one device's home directory, driven through the CLI.
type user struct {
	name, home string
}

func newUser(t testing.TB, dir, name string) *user {
	return &user{name: name, home: filepath.Join(dir, name)}
}

// signUp makes a user for each name under dir and signs each up on the
// server at link: init (which must say it created the account), then a
// first read (which must find nothing).
func signUp(t testing.TB, dir, link string, names ...string) []*user {
	t.Helper()
	var users []*user
	for _, name := range names {
		u := newUser(t, dir, name)
		mustContain(t, name+" init", u.run(t, "init", "--server", link, "--name", name), "Created your account")
		mustContain(t, name+" first read", u.run(t, "read"), "No new messages.")
		users = append(users, u)
	}
	return users
}

// friendsWithPhone signs up alice and bob on the server at link, links a
// second device of bob's (bob-phone) before any first read (each device's
// first read registers it and publishes its key packages, so that others
// can add it while it is offline), and makes alice a contact of bob's two
// devices.
func friendsWithPhone(t *testing.T, dir, link string) (alice, bob, bobPhone *user) {
	t.Helper()
	alice, bob = newUser(t, dir, "alice"), newUser(t, dir, "bob")
	bobPhone = &user{name: "bob-phone", home: filepath.Join(dir, "bob-phone")}
	for _, u := range []*user{alice, bob} {
		mustContain(t, u.name+" init", u.run(t, "init", "--server", link, "--name", u.name), "Created your account")
	}
	runLinkDevice(t, bob, bobPhone)
	for _, u := range []*user{alice, bob, bobPhone} {
		mustContain(t, u.name+" first read", u.run(t, "read"), "No new messages.")
	}
	befriend(t, alice, bob, bobPhone)
	return alice, bob, bobPhone
}

// twoFriends signs up alice and bob on the server at link and makes them
// contacts of each other.
func twoFriends(t testing.TB, dir, link string) (alice, bob *user) {
	t.Helper()
	u := signUp(t, dir, link, "alice", "bob")
	befriend(t, u[0], u[1])
	return u[0], u[1]
}

// cliEnv is the environment of every CLI process: the passphrase and the
// cheap test KDF.
var cliEnv = e2etest.CLIEnv(passphrase)

// run runs one CLI command as this user and returns its stdout; a non-zero
// exit fails the test.
func (u *user) run(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := u.try(args...)
	if err != nil {
		t.Fatalf("%s: samizdat %s: %v\nstdout:\n%s\nstderr:\n%s", u.name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// listen starts 'samizdat listen' on this user's home, with env added to
// cliEnv, and waits until it has connected.
func (u *user) listen(t *testing.T, env ...string) *proc {
	t.Helper()
	p := start(t, append(append([]string(nil), cliEnv...), env...), "--home", u.home, "listen")
	if !e2etest.WaitFor(30*time.Second, func() bool { return strings.Contains(p.Stderr.String(), "Connected") }) {
		t.Fatalf("%s listen did not connect:\n%s", u.name, p.Stderr.String())
	}
	return p
}

// try runs one CLI command and returns stdout, stderr and the exit error.
func (u *user) try(args ...string) (string, string, error) {
	return u.tryEnv(nil, args...)
}

// tryEnv is try with env added to cliEnv.
func (u *user) tryEnv(env []string, args ...string) (string, string, error) {
	env = append(append([]string(nil), cliEnv...), env...)
	return e2etest.Run(90*time.Second, bin, env, append([]string{"--home", u.home}, args...)...)
}

// mustContain fails unless out has every one of wants.
func mustContain(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: want %q in the output:\n%s", what, w, out)
		}
	}
}

// readLines returns the lines of a file (none if it does not exist).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
