// Package testenv decides what a test does when a prerequisite outside Go
// (a program, root, a database server) is missing: outside CI it skips and
// says what to install; under CI (the CI environment variable set, as
// .ci/run's runner sets CI=true) it fails, because CI must never pass by
// skipping in silence. It imports only the standard library, so any
// package's tests may use it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI.
func InCI() bool { return os.Getenv("CI") != "" }

// Require fails t under CI and skips it elsewhere when err is not nil.
// what names the prerequisite, install says how to get it (for example
// "apt-get install nftables"). It does nothing when err is nil.
func Require(t testing.TB, err error, what, install string) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("%s is required under CI and missing (%v): %s; .ci/run installs it", what, err, install)
	}
	t.Skipf("%s is missing (%v): %s; skipped outside CI", what, err, install)
}

// LookPath returns the path of the program name, or fails/skips t as
// Require does, naming install.
func LookPath(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err, name, install)
	return p
}
