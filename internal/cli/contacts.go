package cli

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("contacts", "list your contacts and chats", runContacts)
}

func runContacts(e env) int {
	fs := newFlags(e, "contacts")
	clientFlags(fs, &e)
	if _, err := parseAll(fs, e.args); err != nil {
		return 2
	}
	return withClient(e, "contacts", func(c *client.Client) error {
		ctx := context.Background()
		cts, err := c.Contacts(ctx)
		if err != nil {
			return err
		}
		if len(cts) == 0 {
			fmt.Fprintln(e.stdout, "No contacts yet. Add one with: samizdat add LINK")
		}
		for _, ct := range cts {
			fmt.Fprintf(e.stdout, "%-20s account %s…  added %s\n", ct.Name, base64.RawURLEncoding.EncodeToString(ct.Account[:6]), ct.Added.Format("2006-01-02"))
		}
		chats, err := c.Chats(ctx)
		if err != nil {
			return err
		}
		for _, ch := range chats {
			if ch.Kind == "group" && ch.Active {
				fmt.Fprintf(e.stdout, "%-20s group with %v\n", ch.Name, ch.Members)
			}
		}
		return nil
	})
}
