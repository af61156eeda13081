package buildtest

import (
	"bytes"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/internal/testenv"
)

// staticcheckVersion is the staticcheck the house is kept clean with.
const staticcheckVersion = "honnef.co/go/tools/cmd/staticcheck@v0.8.2"

// TestStaticcheckClean runs staticcheck on the whole module and fails on
// any finding. Without the Go module proxy the tool cannot be fetched:
// the test then fails under CI and skips elsewhere (internal/testenv).
func TestStaticcheckClean(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	install := exec.Command("go", "install", staticcheckVersion)
	install.Env = append(install.Environ(), "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		testenv.Require(t, err, "staticcheck", "go install "+staticcheckVersion+" (needs the Go module proxy):\n"+string(out))
	}
	cmd := exec.Command(filepath.Join(bin, "staticcheck"), "./...")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("staticcheck ./... is not clean (%v); fix each finding (remove dead code rather than suppress):\n%s", err, out)
	}
}

// TestVetClean runs go vet on the whole module and fails on any finding.
func TestVetClean(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet ./... is not clean (%v):\n%s", err, out)
	}
}

// TestGofmtClean fails on any Go file of the module that gofmt would
// change (testdata, node_modules and hidden folders aside): vet and
// staticcheck do not look at layout, and a merge once left a file
// unformatted through a whole CI run.
func TestGofmtClean(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var unformatted []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, err := format.Source(src)
		if err != nil {
			return fmt.Errorf("gofmt %s: %w", path, err)
		}
		if !bytes.Equal(src, out) {
			rel, _ := filepath.Rel(root, path)
			unformatted = append(unformatted, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(unformatted) > 0 {
		t.Fatalf("gofmt would change %d files; run gofmt -w on them:\n%s", len(unformatted), strings.Join(unformatted, "\n"))
	}
}
