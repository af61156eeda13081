package main

import (
	"strings"
	"testing"
)

func TestReportCountsAndSkips(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: nft is missing\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
	}, "\n")
	var out strings.Builder
	r := &report{out: &out, pending: map[string]*strings.Builder{}}
	if err := r.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if !r.finish() {
		t.Error("a run with a failed test reported success")
	}
	got := out.String()
	for _, want := range []string{"c_test.go:3: boom", "FAIL\tp", "p TestB: b_test.go:9: nft is missing", "tests: 1 passed, 1 failed, 1 skipped"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "=== RUN") {
		t.Errorf("output of a passing test was printed:\n%s", got)
	}
}

// TestReportExitFollowsTheRun: a build failure and a package that fails
// with no failed test (a panic in TestMain, a timeout) fail the run, with
// their output shown; an all-pass run succeeds with its closing count.
func TestReportExitFollowsTheRun(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		failed   bool
		want     string
	}{
		{"build failure", `{"Action":"build-output","ImportPath":"q","Output":"q/x.go:1: syntax error\n"}
{"Action":"build-fail","ImportPath":"q"}
{"Action":"output","Package":"q","Output":"FAIL\tq [build failed]\n"}
{"Action":"fail","Package":"q"}`, true, "syntax error"},
		{"all pass", `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}`, false, "tests: 1 passed, 0 failed, 0 skipped"},
		{"package failure", `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"panic: test timed out after 10m0s\n"}
{"Action":"fail","Package":"p"}`, true, "test timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			r := &report{out: &out, pending: map[string]*strings.Builder{}}
			if err := r.read(strings.NewReader(tc.in)); err != nil {
				t.Fatal(err)
			}
			if r.finish() != tc.failed {
				t.Errorf("finish() = %v, want %v:\n%s", !tc.failed, tc.failed, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}
