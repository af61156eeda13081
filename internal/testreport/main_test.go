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

func TestReportBuildFailureFails(t *testing.T) {
	in := `{"Action":"build-output","ImportPath":"q","Output":"q/x.go:1: syntax error\n"}
{"Action":"build-fail","ImportPath":"q"}
{"Action":"output","Package":"q","Output":"FAIL\tq [build failed]\n"}
{"Action":"fail","Package":"q"}`
	var out strings.Builder
	r := &report{out: &out, pending: map[string]*strings.Builder{}}
	if err := r.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if !r.finish() {
		t.Errorf("a build failure reported success:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "syntax error") {
		t.Errorf("build output not shown:\n%s", out.String())
	}
}

func TestReportAllPassSucceeds(t *testing.T) {
	in := `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}`
	var out strings.Builder
	r := &report{out: &out, pending: map[string]*strings.Builder{}}
	_ = r.read(strings.NewReader(in))
	if r.finish() {
		t.Errorf("an all-pass run reported failure:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "tests: 1 passed, 0 failed, 0 skipped") {
		t.Errorf("closing line wrong:\n%s", out.String())
	}
}

// TestReportPackageFailureFails: a package that fails with no failed test
// (a panic in TestMain, a timeout) still fails the run.
func TestReportPackageFailureFails(t *testing.T) {
	in := `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"panic: test timed out after 10m0s\n"}
{"Action":"fail","Package":"p"}`
	var out strings.Builder
	r := &report{out: &out, pending: map[string]*strings.Builder{}}
	_ = r.read(strings.NewReader(in))
	if !r.finish() {
		t.Errorf("a failed package reported success:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "test timed out") {
		t.Errorf("the package's output was not shown:\n%s", out.String())
	}
}
