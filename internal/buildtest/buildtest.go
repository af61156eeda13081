// Package buildtest builds the samizdat binary (with the web app, for the
// browser tests) for tests that run it as a real process (e2e, web/e2e,
// tui, the censorship lab), and makes such tests depend on
// the module's sources in the eyes of the go test cache: it stats every
// source file before building, and go test keys a cached result on the
// files a test looked at. Without that, a change in, say, client/ would
// leave those tests' old results cached, because go test cannot see what
// a `go build` run from inside a test compiled.
package buildtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Package is the import path of the samizdat command.
const Package = "github.com/samizdat-project/samizdat/cmd/samizdat"

// Samizdat builds the samizdat binary into dir and returns its path.
func Samizdat(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := touchSources(root); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "samizdat")
	out, err := exec.Command("go", "build", "-o", bin, Package).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("buildtest: building samizdat: %w\n%s", err, out)
	}
	return bin, nil
}

// For builds the samizdat binary into t's temporary folder and returns
// its path; a failed build fails t. (A package whose every test runs the
// binary builds it once with Main instead.)
func For(t testing.TB) string {
	t.Helper()
	bin, err := Samizdat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// WebApp runs the web package's generate step (without brotli, for
// speed), so that the binary built next embeds the WebAssembly client.
func WebApp() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "run", "./gen", "-brotli=-1")
	cmd.Dir = filepath.Join(root, "web")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("buildtest: generating the web app (go generate ./web): %w\n%s", err, out)
	}
	return nil
}

// Main is the TestMain of a package whose tests run the samizdat binary:
// it builds the binary (after the web app, with withApp) into a temporary
// folder, sets *bin to its path, runs the tests, removes the folder and
// exits with the tests' status. A failed build prints why and exits 1.
func Main(m *testing.M, bin *string, withApp bool) {
	os.Exit(runMain(m, bin, withApp))
}

func runMain(m *testing.M, bin *string, withApp bool) int {
	tmp, err := os.MkdirTemp("", "samizdat-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildtest:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if withApp {
		err = WebApp()
	}
	if err == nil {
		*bin, err = Samizdat(tmp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("buildtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// touchSources stats every file that goes into the binary: Go sources
// (tests excluded), embedded scenario files, go.mod and go.sum.
func touchSources(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		embedded := strings.HasSuffix(name, ".json") && strings.Contains(path, "scenarios") ||
			strings.Contains(path, filepath.Join("web", "static")) || strings.Contains(path, filepath.Join("web", "dist"))
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || embedded || name == "go.mod" || name == "go.sum" {
			_, err := os.Stat(path)
			return err
		}
		return nil
	})
}
