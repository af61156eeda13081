package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
)

func init() {
	register("invite", "print your invite link and its QR code", runInvite)
}

func runInvite(e env) int {
	fs := clientFlagSet(&e, "invite")
	noQR := fs.Bool("no-qr", false, "print only the link")
	vouch := fs.Bool("vouch", false, "also ask the server for an invitation (a few a week, once your account is trusted) that your contact redeems with 'samizdat redeem TOKEN': it gives them relays beyond the ones new accounts share")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *vouch {
		return withOnline(e, "invite", 30*time.Second, func(ctx context.Context, c *client.Client) error {
			tok, err := c.RequestInvitation(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, c.Invite().String())
			fmt.Fprintf(e.stdout, "Invitation (for one person, secret until used): %s\n", base64.RawURLEncoding.EncodeToString(tok))
			fmt.Fprintln(e.stdout, "Your contact runs: samizdat add '<link>', then samizdat redeem <invitation>")
			return nil
		})
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
