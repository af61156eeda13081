package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// verify and invitations: member authentication as the user sees it
// (docs/spec/authentication.md §5, §6).

func init() {
	register("verify", "mark a contact verified after comparing safety numbers", runVerify)
	register("invitations", "list chats you were invited to; accept or decline them", runInvitations)
}

func runVerify(e env) int {
	fs := clientFlagSet(&e, "verify")
	args, code, ok := parseArgs(e, fs, "verify", 1, 1, "usage: samizdat verify NAME (first compare 'samizdat safety NAME' with them)")
	if !ok {
		return code
	}
	return withOnline(e, "verify", 15*time.Second, func(ctx context.Context, c *client.Client) error {
		sn, err := c.Verify(ctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s is verified (safety number %s).\nFrom now on, any change of %s's devices or keys is shown as a WARNING in your chats.\n", args[0], sn.Digits, args[0])
		return nil
	})
}

const invitationsUsage = `usage:
  samizdat invitations              list them
  samizdat invitations accept NAME  make it a chat
  samizdat invitations decline NAME drop it, now and later`

func runInvitations(e env) int {
	fs := clientFlagSet(&e, "invitations")
	args, err := parseAll(fs, e.args)
	if err != nil {
		return flagExit(err)
	}
	if len(args) != 0 && (len(args) != 2 || (args[0] != "accept" && args[0] != "decline")) {
		return fail(e, "invitations", errors.New(invitationsUsage))
	}
	return withOnline(e, "invitations", 15*time.Second, func(ctx context.Context, c *client.Client) error {
		c.Sync(ctx, 300*time.Millisecond)
		if len(args) == 0 {
			invs, err := c.Invitations(ctx)
			if err != nil {
				return err
			}
			if len(invs) == 0 {
				fmt.Fprintln(e.stdout, "No invitations.")
			}
			for _, inv := range invs {
				fmt.Fprintf(e.stdout, "%s  members: %s\n", inv.Name, strings.Join(inv.Members, ", "))
			}
			return nil
		}
		if args[0] == "accept" {
			if err := c.AcceptInvitation(ctx, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s is now a chat. Read it with: samizdat read %s\n", args[1], args[1])
			return nil
		}
		if err := c.DeclineInvitation(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Declined %s; nothing from it is shown.\n", args[1])
		return nil
	})
}
