// Command samizdat is the one binary of samizdat: the messenger's client,
// server, relay, demo and censorship lab, as subcommands.
package main

import (
	"os"

	"github.com/samizdat-project/samizdat/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
