package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("contacts", "list your contacts, people who wrote to you, and your groups", runContacts)
	register("chats", "list your chats (direct and groups) with their members", runChats)
}

// contactJSON is one line of `contacts --json`.
type contactJSON struct {
	Name    string    `json:"name"`
	Account string    `json:"account"` // base64url account key
	Added   time.Time `json:"added,omitzero"`
	Pending bool      `json:"pending,omitempty"` // wrote to you; not added
}

func runContacts(e env) int {
	fs := clientFlagSet(&e, "contacts")
	asJSON := fs.Bool("json", false, "print JSON: contacts, pending contacts and groups")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	return withClient(e, "contacts", func(c *client.Client) error {
		ctx := context.Background()
		cts, err := c.Contacts(ctx)
		if err != nil {
			return err
		}
		chats, err := c.Chats(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := struct {
				Contacts []contactJSON     `json:"contacts"`
				Groups   []client.ChatInfo `json:"groups"`
			}{Contacts: []contactJSON{}, Groups: []client.ChatInfo{}}
			for _, ct := range cts {
				out.Contacts = append(out.Contacts, contactJSON{Name: ct.Name, Account: base64.RawURLEncoding.EncodeToString(ct.Account[:]), Added: ct.Added})
			}
			for _, ch := range chats {
				if ch.Pending && ch.Active {
					out.Contacts = append(out.Contacts, contactJSON{Name: ch.Name, Pending: true})
				}
				if ch.Kind == "group" && ch.Active {
					out.Groups = append(out.Groups, ch)
				}
			}
			return json.NewEncoder(e.stdout).Encode(out)
		}
		if len(cts) == 0 {
			fmt.Fprintln(e.stdout, "No contacts yet. Add one with: samizdat add LINK")
		}
		for _, ct := range cts {
			fmt.Fprintf(e.stdout, "%-20s account %s…  added %s\n", safe(ct.Name), base64.RawURLEncoding.EncodeToString(ct.Account[:6]), ct.Added.Format("2006-01-02"))
		}
		for _, ch := range chats {
			if ch.Pending && ch.Active {
				fmt.Fprintf(e.stdout, "%-20s pending: wrote to you; answer with 'samizdat send %s TEXT', or add their invite link to name them\n", safe(ch.Name), safe(ch.Name))
			}
		}
		for _, ch := range chats {
			if ch.Kind == "group" && ch.Active {
				fmt.Fprintf(e.stdout, "%-20s group with %s\n", safe(ch.Name), safe(fmt.Sprint(ch.Members)))
			}
		}
		return nil
	})
}

func runChats(e env) int {
	fs := clientFlagSet(&e, "chats")
	asJSON := fs.Bool("json", false, "print the chats as JSON")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	return withClient(e, "chats", func(c *client.Client) error {
		chats, err := c.Chats(context.Background())
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONList(e.stdout, chats)
		}
		if len(chats) == 0 {
			fmt.Fprintln(e.stdout, "No chats yet: 'samizdat send NAME TEXT' starts one.")
		}
		for _, ch := range chats {
			state := ""
			if !ch.Active {
				state = " (left)"
			} else if ch.Pending {
				state = " (pending contact)"
			}
			fmt.Fprintf(e.stdout, "%-20s %-6s %s%s\n", safe(ch.Name), ch.Kind, safe(fmt.Sprint(ch.Members)), state)
		}
		return nil
	})
}
