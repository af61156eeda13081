package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("read", "fetch and show new messages, or a chat's history with NAME", runRead)
}

func runRead(e env) int {
	fs := clientFlagSet(&e, "read")
	offline := fs.Bool("offline", false, "do not connect; show what is stored")
	asJSON := fs.Bool("json", false, "print the messages as a JSON array")
	args, code, ok := parseArgs(e, fs, "read", 0, 1, "usage: samizdat read [NAME]")
	if !ok {
		return code
	}
	return withClient(e, "read", func(c *client.Client) error {
		ctx, cancel := signalContext()
		defer cancel()
		if !*offline {
			if err := goOnline(ctx, c, 10*time.Second); err != nil {
				fmt.Fprintf(e.stderr, "samizdat read: %v; showing what is stored\n", err)
			} else {
				sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
				c.Sync(sctx, 500*time.Millisecond)
				scancel()
				// What waits in the outbox goes out while we are here.
				fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
				c.Flush(fctx)
				fcancel()
			}
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		ms, err := c.Messages(ctx, name, name == "")
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONList(e.stdout, ms)
		}
		if len(ms) == 0 {
			fmt.Fprintln(e.stdout, "No new messages.")
		}
		for _, m := range ms {
			printMessage(e, m)
		}
		return nil
	})
}
