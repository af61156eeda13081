package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("init", "create your account on this device (works offline)", runInit)
}

func runInit(e env) int {
	fs := clientFlagSet(&e, "init")
	link := fs.String("server", "", "the server link (samizdat://server?...) from the server's operator")
	name := fs.String("name", "", "the name you suggest to your contacts in your invite link")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *link == "" {
		return fail(e, "init", errors.New("--server LINK is required: ask the server's operator for its samizdat://server?... link"))
	}
	if *name != "" {
		if err := client.ValidName(*name); err != nil {
			return fail(e, "init", err)
		}
	}
	sl, err := client.ParseServerLink(*link)
	if err != nil {
		return fail(e, "init", err)
	}
	e.newStore = true
	o, err := clientOptions(e)
	if err != nil {
		return fail(e, "init", err)
	}
	lock, err := client.LockHome(o.Home)
	if err != nil {
		return fail(e, "init", err)
	}
	defer lock.Unlock()
	in := client.InitOptions{Options: o, Server: sl, Name: *name}
	if os.Getenv("SAMIZDAT_INSECURE_TEST_KDF") == "1" {
		// Tests only: a cheap Argon2id, so that scripts run fast.
		in.KDF = &client.LightKDF
	}
	c, err := client.Init(in)
	clear(o.Passphrase)
	if err != nil {
		return fail(e, "init", err)
	}
	defer c.Close()
	fmt.Fprintf(e.stdout, "Created your account in %s.\n", o.Home)
	fmt.Fprintf(e.stdout, "Your keys never leave this device; the local store is encrypted with your passphrase.\n")
	fmt.Fprintf(e.stdout, "Next: 'samizdat invite' prints the link to give your contacts.\n")
	return 0
}
