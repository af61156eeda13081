package cli

import (
	"context"
	"fmt"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("safety", "show the safety number to compare with a contact", runSafety)
}

func runSafety(e env) int {
	fs := clientFlagSet(&e, "safety")
	noQR := fs.Bool("no-qr", false, "print only the digits")
	args, code, ok := parseArgs(e, fs, "safety", 1, 1, "usage: samizdat safety NAME")
	if !ok {
		return code
	}
	return withClient(e, "safety", func(c *client.Client) error {
		sn, err := c.SafetyNumber(context.Background(), args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Safety number with %s:\n%s\n", args[0], sn.Digits)
		if !*noQR {
			if err := printQR(e.stdout, sn.QR); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "%s sees the same number if nobody swapped your keys. If it differs, do not trust this chat.\n", args[0])
		if !sn.Devices {
			fmt.Fprintln(e.stdout, "(Your devices or theirs are not known yet: connect once; the number then also covers every device.)")
		} else if v, changed, _ := c.VerifiedState(context.Background(), args[0]); v && changed {
			fmt.Fprintf(e.stdout, "WARNING: this is not the number you verified: %s's devices or keys changed since.\n", args[0])
		} else if v {
			fmt.Fprintf(e.stdout, "You verified %s ('samizdat verify').\n", args[0])
		}
		return nil
	})
}
