package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
)

// TestPassphrasePromptOnTerminal: without SAMIZDAT_PASSPHRASE, a command on
// a terminal asks for the passphrase without echo; init asks twice and
// refuses two different answers. script(1) gives the command its terminal.
func TestPassphrasePromptOnTerminal(t *testing.T) {
	scriptBin := testenv.LookPath(t, "script", "apt-get install bsdutils")
	dir := t.TempDir()
	home := filepath.Join(dir, "h")
	link := "samizdat://server?key=sc1AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE&addr=127.0.0.1%3A9"
	// run answers each prompt once it shows (input typed ahead of a
	// prompt may reach the terminal before the echo is off).
	run := func(input, cmdline string) string {
		cmd := exec.Command(scriptBin, "-qec", cmdline, "/dev/null")
		cmd.Env = append(os.Environ(), "SAMIZDAT_INSECURE_TEST_KDF=1", "SAMIZDAT_PASSPHRASE=")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p, err := e2etest.StartCmd(cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		// script(1) copies the terminal, prompts included, to its stdout.
		prompts := 0
		for _, line := range strings.SplitAfter(input, "\n") {
			if line == "" {
				continue
			}
			e2etest.WaitFor(30*time.Second, func() bool {
				out := p.Stdout.String()
				return strings.Count(out, "assphrase") > prompts || strings.Contains(out, "again") && prompts == 1
			})
			prompts++
			stdin.Write([]byte(line))
		}
		p.Wait(t, 60*time.Second) // how it exits is in what it printed
		return p.Stdout.String() + p.Stderr.String()
	}
	initCmd := bin + " --home " + home + " init --name x --server '" + link + "'"
	out := run("one\ntwo\n", initCmd)
	mustContain(t, "init, two answers", out, "The same passphrase again", "the two passphrases differ")
	if _, err := os.Stat(filepath.Join(home, "samizdat.db")); err == nil {
		t.Fatal("a store was created with two different passphrases")
	}
	mustContain(t, "init", run("one\none\n", initCmd), "Created your account")
	mustContain(t, "contacts", run("one\n", bin+" --home "+home+" contacts"), "Passphrase of the local store", "No contacts yet")
	mustContain(t, "contacts, wrong", run("two\n", bin+" --home "+home+" contacts"), "wrong passphrase")
}
