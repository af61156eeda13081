// Package buildtest builds the samizdat binary for tests that run it as a
// real process (e2e, the censorship lab), and makes such tests depend on
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
