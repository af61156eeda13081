// Command testreport reads `go test -json` on standard input and prints
// what a plain `go test ./...` prints (a line a package, and the output of
// failed tests), then every skipped test with its reason and one closing
// line "tests: N passed, N failed, N skipped". It exits 1 when any test
// or build failed, so .ci/run can show skips without hiding failures.
//
//	go test -json ./... | go run ./internal/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type report struct {
	out                     io.Writer
	passed, failed, skipped int
	buildFailed             bool
	pkgFailed               int                         // packages that failed
	pending                 map[string]*strings.Builder // package/test -> output so far
	skips                   []string
}

func main() {
	r := &report{out: os.Stdout, pending: map[string]*strings.Builder{}}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if r.finish() {
		os.Exit(1)
	}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(r.out, string(line)) // not JSON: a build error printed as text
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) handle(e event) {
	key := e.Package + " " + e.Test
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
	case "build-fail":
		r.buildFailed = true
	case "output":
		if e.Test == "" {
			// Package lines: "ok ...", "FAIL ...", "--- FAIL" summaries, panics.
			if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "--- PASS") {
				fmt.Fprint(r.out, e.Output)
			}
			return
		}
		b := r.pending[key]
		if b == nil {
			b = &strings.Builder{}
			r.pending[key] = b
		}
		b.WriteString(e.Output)
	case "pass", "fail", "skip":
		out := r.pending[key]
		delete(r.pending, key)
		if e.Test == "" {
			if e.Action == "fail" {
				r.pkgFailed++ // a failed test, a build error, a panic or a timeout
			}
			return
		}
		switch e.Action {
		case "pass":
			r.passed++
		case "fail":
			r.failed++
			if out != nil {
				fmt.Fprint(r.out, out.String())
			}
		case "skip":
			r.skipped++
			reason := ""
			if out != nil {
				reason = lastLine(out.String())
			}
			r.skips = append(r.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason))
		}
	}
}

// lastLine returns the last non-empty line that is not go test's own
// "--- SKIP" line: the t.Skip message.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "(no reason given)"
}

// finish prints the skips and the closing line; it reports failure.
func (r *report) finish() bool {
	sort.Strings(r.skips)
	if len(r.skips) > 0 {
		fmt.Fprintf(r.out, "skipped tests (%d):\n", len(r.skips))
		for _, s := range r.skips {
			fmt.Fprintln(r.out, "  "+s)
		}
	}
	fmt.Fprintf(r.out, "tests: %d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return r.failed > 0 || r.buildFailed || r.pkgFailed > 0
}
