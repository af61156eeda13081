package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("outbox", "list the messages waiting to be sent, retry or drop failed ones", runOutbox)
}

func runOutbox(e env) int {
	fs := clientFlagSet(&e, "outbox")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	args, err := parseAll(fs, e.args)
	if err != nil {
		return flagExit(err)
	}
	op := "list"
	if len(args) > 0 {
		op, args = args[0], args[1:]
	}
	var id int64
	switch {
	case op == "list" && len(args) == 0:
	case (op == "retry" || op == "drop") && len(args) == 1:
		if args[0] != "all" {
			if id, err = strconv.ParseInt(args[0], 10, 64); err != nil || id <= 0 {
				return fail(e, "outbox", errors.New("give the id 'samizdat outbox' shows, or all"))
			}
		}
	default:
		return fail(e, "outbox", errors.New("usage: samizdat outbox [list | retry ID|all | drop ID|all]"))
	}
	return withClient(e, "outbox", func(c *client.Client) error {
		ctx := context.Background()
		switch op {
		case "retry":
			n, err := c.RetryOutbox(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d message(s) back in line; they go out when the server is reachable.\n", n)
			return nil
		case "drop":
			n, err := c.DropOutbox(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Dropped %d message(s); they will not be sent.\n", n)
			return nil
		}
		es, err := c.OutboxEntries(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONList(e.stdout, es)
		}
		if len(es) == 0 {
			fmt.Fprintln(e.stdout, "The outbox is empty: the server has every message you sent.")
			return nil
		}
		for _, o := range es {
			state := "waiting"
			if o.Failed {
				state = "FAILED: " + safe(o.Reason)
			}
			fmt.Fprintf(e.stdout, "%-5d %-20s %-12s %8d bytes  %s\n", o.ID, safe(o.Chat), o.Kind, o.Size, state)
		}
		if r := c.OutboxWaitReason(); r != "" {
			fmt.Fprintln(e.stdout, "Waiting because "+r+".")
		}
		return nil
	})
}
