package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpEverywhere: --help (and -h) on every command and subcommand
// prints its usage to stdout and exits 0, without doing anything.
func TestHelpEverywhere(t *testing.T) {
	t.Setenv("SAMIZDAT_HOME", t.TempDir()+"/nohome")
	var lines [][]string
	for name, c := range commands {
		if strings.HasPrefix(c.summary, "internal:") {
			continue
		}
		lines = append(lines, []string{name})
	}
	lines = append(lines, [][]string{
		{"device", "link"}, {"device", "approve"}, {"device", "list"}, {"device", "revoke"},
		{"channel", "create"}, {"channel", "post"}, {"channel", "link"}, {"channel", "follow"}, {"channel", "read"}, {"channel", "download"},
		{"group", "send"}, {"group", "create"}, {"server", "invite"}, {"bench", "send"}, {"bench", "recv"}, {"bench", "server"},
		{"bench", "fanout"}, {"lab", "run"}, {"outbox", "drop"}, {"relay", "record-shape"},
	}...)
	for _, l := range lines {
		for _, h := range []string{"--help", "-h"} {
			var out, errOut bytes.Buffer
			args := append(append([]string(nil), l...), h)
			code := Main(args, strings.NewReader(""), &out, &errOut)
			if code != 0 || !strings.Contains(strings.ToLower(out.String()), "usage") || errOut.Len() != 0 {
				t.Errorf("samizdat %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
			}
		}
	}
}
