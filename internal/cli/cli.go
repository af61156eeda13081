// Package cli implements the samizdat subcommands: one file per
// subcommand, plus the wiring of concrete implementations.
package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/samizdat-project/samizdat/client"
)

// Version is the samizdat release; set with -ldflags at build time.
var Version = "0.1.0-dev"

// env is what every subcommand gets: its arguments and the three streams.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// Global flags given before the subcommand (client commands; see
	// parseGlobal in account.go).
	home, passphraseFile string
	// newStore: the passphrase creates a store (init): a prompt asks twice.
	newStore bool
	// orig is the whole command line, to hand to the process holding the
	// home (homectl.go); nil inside that process.
	orig []string
	// shared is the running client of this process when the command runs
	// on behalf of another (homectl.go).
	shared     *client.Client
	sharedHome string // the home of shared
}

type command struct {
	summary string
	run     func(e env) int
}

var commands = map[string]command{}

func register(name, summary string, run func(e env) int) {
	commands[name] = command{summary, run}
}

// Main runs the subcommand named by args[0] and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	orig := args
	g, args, err := parseGlobal(args)
	if err != nil {
		fmt.Fprintf(stderr, "samizdat: %v\n", err)
		return 2
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "samizdat: unknown command %q; run 'samizdat help' to see the commands\n", args[0])
		return 2
	}
	e := env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr, home: g.home, passphraseFile: g.passphraseFile, orig: orig}
	if code, ok := subcommandHelp(e, args[0]); ok { // help.go
		return code
	}
	return cmd.run(env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr, home: g.home, passphraseFile: g.passphraseFile, orig: orig})
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "samizdat: an end-to-end encrypted messenger that a censor can neither read nor stop.")
	fmt.Fprintln(w, "\nUsage: samizdat <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// Helper processes that other commands start are not for people.
		if strings.HasPrefix(commands[n].summary, "internal:") {
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nGlobal flags (before the command): --home DIR (default $SAMIZDAT_HOME or ~/.samizdat),")
	fmt.Fprintln(w, "  --passphrase-file FILE (or set SAMIZDAT_PASSPHRASE): opens the encrypted local store.")
	fmt.Fprintln(w, "\nRun 'samizdat <command> -h' for a command's flags.")
}

func init() {
	register("version", "print the version", func(e env) int {
		if _, err := parseAll(newFlags(e, "version"), e.args); err != nil {
			return flagExit(err)
		}
		fmt.Fprintf(e.stdout, "samizdat %s\n", Version)
		return 0
	})
}
