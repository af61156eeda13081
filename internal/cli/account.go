package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// globals are the flags that come before a client subcommand.
type globals struct{ home, passphraseFile string }

// parseGlobal takes --home DIR and --passphrase-file FILE (also -x and
// -x=v forms) off the front of args.
func parseGlobal(args []string) (globals, []string, error) {
	var g globals
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		var dst *string
		switch name {
		case "home":
			dst = &g.home
		case "passphrase-file":
			dst = &g.passphraseFile
		default:
			return g, args, nil // help flags and the like: Main handles them
		}
		if !hasVal {
			if len(args) < 2 {
				return g, nil, fmt.Errorf("--%s needs a value", name)
			}
			val, args = args[1], args[1:]
		}
		*dst = val
		args = args[1:]
	}
	return g, args, nil
}

// clientFlags adds --home and --passphrase-file to a subcommand's flags,
// defaulting to the global ones, so they work on either side of it.
func clientFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.home, "home", e.home, "home directory of the account (default $SAMIZDAT_HOME or ~/.samizdat)")
	fs.StringVar(&e.passphraseFile, "passphrase-file", e.passphraseFile, "file holding the passphrase of the local store (or set SAMIZDAT_PASSPHRASE)")
}

// clientFlagSet is newFlags for a subcommand that opens the account:
// the set has the account flags (clientFlags) already.
func clientFlagSet(e *env, name string) *flag.FlagSet {
	fs := newFlags(*e, name)
	clientFlags(fs, e)
	return fs
}

// anyArgs, as parseArgs's max, puts no upper bound on the count.
const anyArgs = -1

// parseArgs parses fs over e.args (parseAll) and checks that the
// positional arguments number from min to max; a wrong number fails as
// cmd's error with usage. When ok is false the subcommand exits with
// code: 0 for --help, 2 for a flag error, 1 for a wrong count.
func parseArgs(e env, fs *flag.FlagSet, cmd string, min, max int, usage string) (args []string, code int, ok bool) {
	args, err := parseAll(fs, e.args)
	if err != nil {
		return nil, flagExit(err), false
	}
	if len(args) < min || max != anyArgs && len(args) > max {
		return nil, fail(e, cmd, errors.New(usage)), false
	}
	return args, 0, true
}

// parseAll parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseAll(fs *flag.FlagSet, args []string) ([]string, error) {
	if wantsHelp(args) { // help.go
		printHelp(fs)
		return nil, errHelp
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func homeDir(e env) (string, error) {
	if e.shared != nil && e.sharedHome != "" {
		return e.sharedHome, nil // the home of the process serving the command
	}
	if e.home != "" {
		return e.home, nil
	}
	if h := os.Getenv("SAMIZDAT_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no home directory: pass --home DIR")
	}
	return filepath.Join(u, ".samizdat"), nil
}

// passphrase reads the store passphrase from --passphrase-file or
// SAMIZDAT_PASSPHRASE.
func passphrase(e env) ([]byte, error) {
	if e.passphraseFile != "" {
		b, err := os.ReadFile(e.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, errors.New("the passphrase file is empty; put the passphrase in it")
		}
		return b, nil
	}
	if p := os.Getenv("SAMIZDAT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	return promptPassphrase(e, e.newStore) // prompt.go
}

// clientOptions builds the client options of e.
func clientOptions(e env) (client.Options, error) {
	home, err := homeDir(e)
	if err != nil {
		return client.Options{}, err
	}
	pass, err := passphrase(e)
	if err != nil {
		return client.Options{}, err
	}
	o := client.Options{Home: home, Passphrase: pass}
	reachOptions(&o) // paths.go
	if os.Getenv("SAMIZDAT_DEBUG") != "" {
		o.Logf = func(f string, a ...any) { fmt.Fprintf(e.stderr, f+"\n", a...) }
	}
	return o, nil
}

// openClient opens the account of e, holding its home's lock (one live
// session per device, homectl.go); done closes the client and releases
// the lock. If another process holds the home, the command runs there
// and openClient returns a *forwardedError; inside that process (e.shared)
// it returns the running client and done leaves it open.
func openClient(e env) (c *client.Client, done func(), err error) {
	if e.shared != nil {
		return e.shared, func() {}, nil
	}
	home, err := homeDir(e)
	if err != nil {
		return nil, nil, err
	}
	lock, err := lockOrForward(e, home)
	if err != nil {
		return nil, nil, err
	}
	o, err := clientOptions(e)
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	c, err = client.Open(o)
	clear(o.Passphrase)
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return c, func() { c.Close(); lock.Unlock() }, nil
}

// useClient opens the account of e, runs f with it and closes it.
func useClient(e env, f func(c *client.Client) error) error {
	c, done, err := openClient(e)
	if err != nil {
		return err
	}
	defer done()
	return f(c)
}

// withClient opens the account of e for the subcommand cmd, runs f with it
// and closes it. An error, opening the account or from f, is reported as
// cmd's (exit code 1) before the account closes.
func withClient(e env, cmd string, f func(c *client.Client) error) int {
	c, done, err := openClient(e)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer done()
	if err := f(c); err != nil {
		return fail(e, cmd, err)
	}
	return 0
}

// withOnline is withClient for a subcommand that needs the server: f runs
// once c is online (goOnline with wait), with a context that ends on
// SIGINT or SIGTERM.
func withOnline(e env, cmd string, wait time.Duration, f func(ctx context.Context, c *client.Client) error) int {
	return withClient(e, cmd, func(c *client.Client) error {
		ctx, stop := signalContext()
		defer stop()
		if err := goOnline(ctx, c, wait); err != nil {
			return err
		}
		return f(ctx, c)
	})
}

// fail prints a command's error and returns exit code 1.
func fail(e env, cmd string, err error) int {
	var fwd *forwardedError
	if errors.As(err, &fwd) {
		return fwd.code // the process holding the home printed it all
	}
	if errors.Is(err, errQuiet) {
		return 1
	}
	// Each line made terminal-safe (a usage text has several lines).
	lines := strings.Split(strings.TrimPrefix(err.Error(), "client: "), "\n")
	for i, l := range lines {
		lines[i] = safe(l)
	}
	msg := strings.Join(lines, "\n")
	fmt.Fprintf(e.stderr, "samizdat %s: %s\n", cmd, msg)
	return 1
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// goOnline starts c and waits until it is connected (wait, or
// $SAMIZDAT_CONNECT_TIMEOUT as a Go duration).
func goOnline(ctx context.Context, c *client.Client, wait time.Duration) error {
	if daemon.Load() != c { // the running client of listen is started already
		c.Start(ctx)
	}
	return waitOnline(ctx, c, wait)
}

// waitOnline waits until the started c is connected (see goOnline).
func waitOnline(ctx context.Context, c *client.Client, wait time.Duration) error {
	if d, err := time.ParseDuration(os.Getenv("SAMIZDAT_CONNECT_TIMEOUT")); err == nil && d > 0 {
		wait = d
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := c.WaitOnline(wctx); err != nil {
		var revoked *client.RevokedError
		if errors.As(err, &revoked) {
			return revoked // says what happened and what to do
		}
		return connectError(c)
	}
	return nil
}

// errQuiet: the command failed and already said so (as JSON).
var errQuiet = errors.New("failed")

// errUnreachable marks an error of goOnline that means only that the
// server could not be reached (the outbox waits); errors.Is matches it.
var errUnreachable = errors.New("the server is unreachable")

type unreachable struct{ msg string }

func (u unreachable) Error() string        { return u.msg }
func (u unreachable) Is(target error) bool { return target == errUnreachable }

// connectError says why c is not online (client/errclass.go): a server
// that cannot prove its identity (possible interception) and a refusal
// are not "check your network".
func connectError(c *client.Client) error {
	last := c.LastConnectError()
	var id *client.IdentityError
	var ref *client.RefusedError
	var rev *client.RevokedError
	switch {
	case errors.As(last, &id):
		return id
	case errors.As(last, &ref):
		return ref
	case errors.As(last, &rev):
		return rev
	}
	msg := fmt.Sprintf("cannot reach the server %v; check your network and that the server is running (messages you send wait in the outbox)", c.Server().Addrs)
	var un *client.UnreachableError
	if errors.As(last, &un) {
		msg = fmt.Sprintf("cannot reach the server %v (%v); check your network and that the server is running (messages you send wait in the outbox)", c.Server().Addrs, un.Err)
	}
	return unreachable{msg}
}
