package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/samizdat-project/samizdat/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"samizdat": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts of testdata/*.txtar: the commands that
// work offline (init, invite, add, contacts, safety) and their errors.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SAMIZDAT_HOME", env.WorkDir+"/nohome")
			env.Setenv("SAMIZDAT_INSECURE_TEST_KDF", "1")
			// A well-formed link to a server that is not there: the offline
			// commands never dial it.
			env.Setenv("SERVER", "samizdat://server?key=sc1AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE&addr=127.0.0.1%3A9")
			return nil
		},
	})
}
