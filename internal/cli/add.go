package cli

import (
	"context"
	"fmt"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("add", "add a contact from their invite link (works offline)", runAdd)
}

func runAdd(e env) int {
	fs := clientFlagSet(&e, "add")
	name := fs.String("name", "", "what to call this contact (default: the name in their link)")
	args, code, ok := parseArgs(e, fs, "add", 1, 1, "usage: samizdat add LINK [--name NAME]; the link comes from your contact's 'samizdat invite'")
	if !ok {
		return code
	}
	in, err := client.ParseInvite(args[0])
	if err != nil {
		return fail(e, "add", err)
	}
	return withClient(e, "add", func(c *client.Client) error {
		ct, err := c.AddContact(context.Background(), in, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Added %s.\n", ct.Name)
		fmt.Fprintf(e.stdout, "Check it is really them: compare 'samizdat safety %s' with what they see (in person or on a call).\n", ct.Name)
		return nil
	})
}
