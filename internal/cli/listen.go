package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("listen", "stay connected and print messages as they arrive (Ctrl-C stops)", runListen)
}

func runListen(e env) int {
	fs := clientFlagSet(&e, "listen")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	home, lock, o, err := openLive(e)
	if err != nil {
		return fail(e, "listen", err)
	}
	defer lock.Unlock()
	var mu sync.Mutex // serializes output
	// Every message is shown once, by whichever command gets to it first
	// (the store's shown mark): listen prints the new ones as they come,
	// so a `read` or `send` beside it does not print them again.
	arrived := make(chan struct{}, 1)
	o.OnMessage = func(client.Message) {
		select {
		case arrived <- struct{}{}:
		default:
		}
	}
	o.OnPath = func(p client.PathStatus) { // paths.go: the path in use
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(e.stderr, "samizdat listen: %s\n", safe(p.String()))
	}
	c, err := client.Open(o)
	clear(o.Passphrase)
	if err != nil {
		return fail(e, "listen", err)
	}
	defer c.Close()
	ctx, cancel := signalContext()
	defer cancel()
	c.Start(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-arrived:
			}
			ms, err := c.Messages(ctx, "", true)
			if err != nil {
				continue
			}
			mu.Lock()
			for _, m := range ms {
				printMessage(e, m)
			}
			mu.Unlock()
		}
	}()
	arrived <- struct{}{} // what arrived while no listen ran
	if err := ServeHome(ctx, home, c); err != nil {
		fmt.Fprintf(e.stderr, "samizdat listen: %v; other commands on this home wait until listen stops\n", err)
	}
	if err := waitOnline(ctx, c, 30*time.Second); err != nil {
		if _, revoked := c.Revoked(); revoked {
			return fail(e, "listen", err)
		}
		fmt.Fprintf(e.stderr, "samizdat listen: %v; still trying\n", err)
	} else {
		fmt.Fprintln(e.stderr, "Connected; waiting for messages (Ctrl-C stops).")
	}
	select {
	case <-ctx.Done():
		return 0
	case <-c.RevokedNotify():
		// Revoked while listening: the client stopped (client/revoked.go).
		return fail(e, "listen", c.WaitOnline(ctx))
	}
}

// openLive takes the lock of the home for a live session (listen, chat;
// see lockForListen) and returns the home, the lock and the client's
// options.
func openLive(e env) (home string, lock *client.HomeLock, o client.Options, err error) {
	if home, err = homeDir(e); err != nil {
		return "", nil, o, err
	}
	if lock, err = lockForListen(e, home); err != nil {
		return "", nil, o, err
	}
	if o, err = clientOptions(e); err != nil {
		lock.Unlock()
		return "", nil, o, err
	}
	return home, lock, o, nil
}

// lockForListen takes the home's lock for listen. Another listen (its
// socket answers) is an error at once; a short command that holds the
// lock is waited for, up to 30 s.
func lockForListen(e env, home string) (*client.HomeLock, error) {
	return lockHomeWaiting(home, func(busy *client.HomeBusyError) error {
		if conn, derr := net.DialTimeout("unix", filepath.Join(home, ctlSocket), time.Second); derr == nil {
			conn.Close()
			return fmt.Errorf("samizdat listen or chat already runs on %s (pid %d): it shows the messages; run other commands beside it", home, busy.PID)
		}
		return nil
	})
}
