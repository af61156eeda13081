package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestSubcommandUsage: a command with subcommands, given none or one it
// does not have, prints its usage (naming the unknown one) and exits 2.
func TestSubcommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "samizdat bench: usage:"},
		{[]string{"bench", "nope"}, `samizdat bench: unknown subcommand "nope"; usage:`},
		{[]string{"device"}, "samizdat device: say what to do: link | approve CODE | list | revoke ID"},
		{[]string{"device", "nope"}, `samizdat device: unknown subcommand "nope"; say what to do`},
	} {
		var out, errOut bytes.Buffer
		if code := Main(c.args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, errOut.String())
		}
		if !strings.HasPrefix(errOut.String(), c.want) {
			t.Errorf("%v: stderr %q, want it to start with %q", c.args, errOut.String(), c.want)
		}
	}
}
