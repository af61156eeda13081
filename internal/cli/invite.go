package cli

import (
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("invite", "print your invite link and its QR code", runInvite)
}

func runInvite(e env) int {
	fs := newFlags(e, "invite")
	clientFlags(fs, &e)
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

// printQR draws text as a QR code with Unicode half blocks: each character
// holds two modules, one above the other. Light modules are drawn, so the
// code reads right on a dark terminal; a quiet zone of two modules
// surrounds it.
func printQR(w io.Writer, text string) error {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return fmt.Errorf("making the QR code: %w", err)
	}
	const quiet = 2
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= code.Size || y >= code.Size {
			return true
		}
		return !code.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < code.Size+quiet; y += 2 {
		for x := -quiet; x < code.Size+quiet; x++ {
			top, bottom := light(x, y), light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
