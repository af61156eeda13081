package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("status", "connect and show the path to the server in use and the paths known", runStatus)
	register("relay-add", "add a relay link someone gave you to the paths this device tries", runRelayAdd)
}

func runStatus(e env) int {
	fs := clientFlagSet(&e, "status")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	return withClient(e, "status", func(c *client.Client) error {
		ctx, cancel := signalContext()
		defer cancel()
		err := goOnline(ctx, c, 30*time.Second)
		if *asJSON {
			pending, _ := c.Pending(ctx)
			out := struct {
				Path    client.PathStatus `json:"path"`
				Known   []string          `json:"known_paths"`
				Error   string            `json:"error,omitempty"`
				Outbox  int               `json:"outbox_waiting"`
				Waiting string            `json:"outbox_reason,omitempty"`
			}{Path: c.Path(), Known: c.KnownPaths(), Outbox: pending, Waiting: c.OutboxWaitReason()}
			if err != nil {
				out.Error = err.Error()
			}
			json.NewEncoder(e.stdout).Encode(out)
			if err != nil {
				return errQuiet
			}
			return nil
		}
		fmt.Fprintf(e.stdout, "%s\n", safe(c.Path().String()))
		if err != nil {
			return err
		}
		if paths := c.KnownPaths(); len(paths) > 0 {
			fmt.Fprintln(e.stdout, "Known paths:")
			for _, p := range paths {
				fmt.Fprintf(e.stdout, "  %s\n", safe(p))
			}
		}
		return nil
	})
}

func runRelayAdd(e env) int {
	fs := clientFlagSet(&e, "relay-add")
	args, code, ok := parseArgs(e, fs, "relay-add", 1, 1, "usage: samizdat relay-add LINK (a samizdat://relay?... link)")
	if !ok {
		return code
	}
	link := args[0]
	return withClient(e, "relay-add", func(c *client.Client) error {
		if err := c.AddRelay(link); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Added; this device tries it when the server cannot be reached otherwise.")
		return nil
	})
}
