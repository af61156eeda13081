package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("group", "group chats: create, add, remove, send, members", runGroup)
}

const groupUsage = `usage:
  samizdat group create NAME
  samizdat group add GROUP CONTACT
  samizdat group remove GROUP CONTACT
  samizdat group send GROUP TEXT
  samizdat group members GROUP`

func runGroup(e env) int {
	fs := clientFlagSet(&e, "group")
	wait := fs.Bool("wait", false, "group send: wait until the server has the message")
	args, code, ok := parseArgs(e, fs, "group", 1, anyArgs, groupUsage)
	if !ok {
		return code
	}
	op, args := args[0], args[1:]
	need := map[string]int{"create": 1, "add": 2, "remove": 2, "send": 2, "members": 1}
	n, ok := need[op]
	if !ok || len(args) < n || (op != "send" && len(args) != n) {
		return fail(e, "group", errors.New(groupUsage))
	}
	if op == "send" {
		text, err := messageText(e, args[1:])
		if err != nil {
			return fail(e, "group send", err)
		}
		return sendText(e, "group send", args[0], text, *wait)
	}
	return withClient(e, "group", func(c *client.Client) error {
		ctx, cancel := signalContext()
		defer cancel()
		if op == "members" {
			ms, err := c.GroupMembers(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, safe(strings.Join(ms, " ")))
			return nil
		}
		if err := goOnline(ctx, c, 15*time.Second); err != nil {
			return err
		}
		c.Sync(ctx, 300*time.Millisecond)
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		var err error
		switch op {
		case "create":
			err = c.CreateGroup(cctx, args[0])
			if err == nil {
				fmt.Fprintf(e.stdout, "Created group %s. Add people with: samizdat group add %s CONTACT\n", args[0], args[0])
			}
		case "add":
			err = c.AddToGroup(cctx, args[0], args[1])
			if err == nil {
				fmt.Fprintf(e.stdout, "Added %s (all their devices) to %s.\n", args[1], args[0])
			}
		case "remove":
			err = c.RemoveFromGroup(cctx, args[0], args[1])
			if err == nil {
				fmt.Fprintf(e.stdout, "Removed %s from %s; they cannot read what is sent from now on.\n", args[1], args[0])
			}
		}
		return err
	})
}
