package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// CLI conventions (issue #11): `--help`, `-h` or `-help` anywhere before
// `--`, on every command and subcommand, prints its usage with its
// positional arguments to stdout and exits 0; a wrong flag prints usage to
// stderr and exits 2.

// synopsis holds the positional arguments of a command ("" for none),
// by the name newFlags gets.
var synopsis = map[string]string{
	"add": "LINK", "contacts": "", "init": "", "invite": "", "listen": "", "read": "[NAME]",
	"safety": "NAME", "send": "NAME TEXT... (TEXT '-' reads stdin)", "status": "", "relay-add": "LINK",
	"group":       "create NAME | add GROUP CONTACT | remove GROUP CONTACT | send GROUP TEXT... | members GROUP",
	"device link": "", "device approve": "CODE", "device list": "", "device revoke": "ID", "devices": "",
	"outbox": "[list | retry ID|all | drop ID|all]", "completion": "bash",
	"server": "", "relay": "", "relay record-shape": "", "chats": "", "chat": "", "version": "", "demo": "",
}

// subcommandUsage is the help of a command that dispatches on a
// subcommand before any flag.
var subcommandUsage = map[string]string{
	"device":  "usage: samizdat device link | approve CODE | list | revoke ID\n\nRun 'samizdat device SUBCOMMAND --help' for its flags.",
	"channel": channelUsage + "\n\nRun 'samizdat channel SUBCOMMAND --help' for its flags.",
	"bench":   benchUsage,
	"lab":     "usage: samizdat lab list | samizdat lab run SCENARIO|all [--quick] [--report out.json] [--html out.html]",
}

var errHelp = flag.ErrHelp

// helpOut remembers each FlagSet's stdout, for its --help.
var helpOut sync.Map // *flag.FlagSet -> io.Writer

// newFlags returns a FlagSet that reports errors on the command's stderr
// and prints its --help on stdout.
func newFlags(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("samizdat "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	helpOut.Store(fs, e.stdout)
	args, known := synopsis[name]
	fs.Usage = func() {
		w := fs.Output()
		line := "samizdat " + name + " [flags]"
		if known && args != "" {
			line += " " + args
		}
		fmt.Fprintf(w, "Usage: %s\n", line)
		if c, ok := commands[strings.Fields(name)[0]]; ok {
			fmt.Fprintf(w, "\n%s.\n", c.summary)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// usageFunc replaces a FlagSet's usage line with args and a note.
func usageFunc(fs *flag.FlagSet, args, note string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: samizdat %s\n", args)
		if note != "" {
			fmt.Fprintf(w, "\n%s\n", note)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}

// isHelp reports whether a is a help flag.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// parseFlags is fs.Parse with --help on stdout.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if wantsHelp(args) {
		printHelp(fs)
		return errHelp
	}
	return fs.Parse(args)
}

func printHelp(fs *flag.FlagSet) {
	if w, ok := helpOut.Load(fs); ok {
		fs.SetOutput(w.(io.Writer))
	}
	fs.Usage()
}

// flagExit is the exit code of a flag error: 0 for --help, else 2.
func flagExit(err error) int {
	if errors.Is(err, errHelp) {
		return 0
	}
	return 2
}

// subcommandHelp answers `samizdat CMD --help` (or no subcommand) for a
// command that dispatches on a subcommand; it reports whether it did.
func subcommandHelp(e env, name string) (int, bool) {
	u, ok := subcommandUsage[name]
	if !ok || len(e.args) == 0 || !isHelp(e.args[0]) && e.args[0] != "help" {
		return 0, false
	}
	fmt.Fprintln(e.stdout, u)
	return 0, true
}
