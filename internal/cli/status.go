package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("status", "connect and show the path to the server in use and the paths known", runStatus)
	register("relay-add", "add a relay link someone gave you to the paths this device tries", runRelayAdd)
}

func runStatus(e env) int {
	fs := newFlags(e, "status")
	clientFlags(fs, &e)
	if _, err := parseAll(fs, e.args); err != nil {
		return 2
	}
	return withClient(e, "status", func(c *client.Client) error {
		ctx, cancel := signalContext()
		defer cancel()
		err := goOnline(ctx, c, 30*time.Second)
		fmt.Fprintf(e.stdout, "%s\n", c.Path())
		if err != nil {
			return err
		}
		if paths := c.KnownPaths(); len(paths) > 0 {
			fmt.Fprintln(e.stdout, "Known paths:")
			for _, p := range paths {
				fmt.Fprintf(e.stdout, "  %s\n", p)
			}
		}
		return nil
	})
}

func runRelayAdd(e env) int {
	fs := newFlags(e, "relay-add")
	clientFlags(fs, &e)
	args, err := parseAll(fs, e.args)
	if err != nil {
		return 2
	}
	if len(args) != 1 {
		return fail(e, "relay-add", errors.New("usage: samizdat relay-add LINK (a samizdat://relay?... link)"))
	}
	return withClient(e, "relay-add", func(c *client.Client) error {
		if err := c.AddRelay(args[0]); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Added; this device tries it when the server cannot be reached otherwise.")
		return nil
	})
}
