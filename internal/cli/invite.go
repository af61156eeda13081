package cli

import (
	"fmt"
	"io"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
)

func init() {
	register("invite", "print your invite link and its QR code", runInvite)
}

func runInvite(e env) int {
	fs := clientFlagSet(&e, "invite")
	noQR := fs.Bool("no-qr", false, "print only the link")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	return withClient(e, "invite", func(c *client.Client) error {
		link := c.Invite().String()
		fmt.Fprintln(e.stdout, link)
		if !*noQR {
			if err := printQR(e.stdout, link); err != nil {
				return err
			}
		}
		fmt.Fprintln(e.stdout, "Give this link to a contact; they run: samizdat add '<link>'")
		return nil
	})
}

// printQR draws text as a QR code for the terminal (reach.RenderQR: light
// modules drawn, for a dark terminal).
func printQR(w io.Writer, text string) error {
	q, err := reach.RenderQR(text, false)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, q)
	return err
}
