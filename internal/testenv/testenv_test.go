package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRequireFailsUnderCI runs Require in a child test binary with and
// without CI set and checks that it fails under CI and skips without.
func TestRequireFailsUnderCI(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Require(t, errors.New("not found"), "frobnicator", "apt-get install frobnicator")
		t.Fatal("Require returned on a missing prerequisite")
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{ci: "true", wantFail: true, wantText: "required under CI"},
		{ci: "", wantFail: false, wantText: "skipped outside CI"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireFailsUnderCI$", "-test.v")
		env := []string{"TESTENV_CHILD=1"}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "CI=") {
				env = append(env, e)
			}
		}
		if tc.ci != "" {
			env = append(env, "CI="+tc.ci)
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: child failed=%v, want %v\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "apt-get install frobnicator") {
			t.Errorf("CI=%q: output does not say %q and how to install:\n%s", tc.ci, tc.wantText, out)
		}
	}
}

func TestRequireNilDoesNothing(t *testing.T) {
	Require(t, nil, "x", "y") // must neither skip nor fail
}
