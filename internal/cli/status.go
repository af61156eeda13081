package cli

import (
	"errors"
	"fmt"
	"time"
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
	c, err := openClient(e)
	if err != nil {
		return fail(e, "status", err)
	}
	defer c.Close()
	ctx, cancel := signalContext()
	defer cancel()
	if err := goOnline(ctx, c, 30*time.Second); err != nil {
		fmt.Fprintf(e.stdout, "%s\n", c.Path())
		return fail(e, "status", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", c.Path())
	if paths := c.KnownPaths(); len(paths) > 0 {
		fmt.Fprintln(e.stdout, "Known paths:")
		for _, p := range paths {
			fmt.Fprintf(e.stdout, "  %s\n", p)
		}
	}
	return 0
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
	c, err := openClient(e)
	if err != nil {
		return fail(e, "relay-add", err)
	}
	defer c.Close()
	if err := c.AddRelay(args[0]); err != nil {
		return fail(e, "relay-add", err)
	}
	fmt.Fprintln(e.stdout, "Added; this device tries it when the server cannot be reached otherwise.")
	return 0
}
