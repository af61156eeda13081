// This test keeps the house of docs/architecture.md standing: imports flow
// one way, every package says what it owns, and files stay small.
package samizdat_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/samizdat-project/samizdat"

type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(&out)
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// rel returns the path of p inside the module ("" for the root).
func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// isStd reports whether an import path belongs to the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// layoutRule says, for the packages under Dir, which non-standard packages
// they may depend on (transitively) and which they must never reach.
type layoutRule struct {
	dir   string
	allow []string // module-relative dirs or external module prefixes; nil = anything
	never []string // module-relative dirs
}

var layoutRules = []layoutRule{
	{dir: "mls", allow: []string{"mls", "internal/tlspl", "golang.org/x/crypto", "golang.org/x/sys", "github.com/cloudflare/circl"}},
	{dir: "wire", allow: []string{"wire", "internal/tlspl"}},
	{dir: "securechan", allow: []string{"securechan", "github.com/flynn/noise", "golang.org/x/crypto", "golang.org/x/sys"}},
	{dir: "transport", never: []string{"mls", "wire", "server", "client", "censor"}},
	{dir: "reach", never: []string{"mls", "server", "client", "censor"}},
	{dir: "relay", never: []string{"mls", "server", "client", "censor"}},
	// The channel mirror reads channels as a client does, so it sits on the
	// roles floor beside relay, not under it.
	{dir: "mirror", never: []string{"server", "store", "relay", "censor", "internal/cli"}},
	{dir: "server", never: []string{"mls", "client", "censor", "internal/cli"}},
	{dir: "store", never: []string{"mls", "server", "client", "censor", "internal/cli"}},
	{dir: "bus", never: []string{"mls", "server", "client", "censor", "internal/cli"}},
	{dir: "client", never: []string{"server", "store", "censor", "internal/cli"}},
	{dir: "web/wasm", never: []string{"server", "store", "censor", "relay", "internal/cli"}},
	{dir: "channel", never: []string{"mls", "server", "store", "client", "transport", "reach", "relay", "censor", "internal/cli"}},
	{dir: "tui", never: []string{"server", "store", "censor", "relay", "internal/cli"}},
	{dir: "attach", allow: []string{"attach", "golang.org/x/crypto", "golang.org/x/sys"}},
	// The app's server side stands below the server and the relay that mount it.
	{dir: "web", never: []string{"server", "store", "relay", "censor", "internal/cli"}},
	{dir: "cmd/samizdat", allow: []string{"internal/cli"}},
	// The load generators sit on the CLI's floor, below it: they may use
	// any role (they run a server in process for the fanout benchmark).
	{dir: "internal/loadgen", never: []string{"internal/cli", "censor"}},
	// The helpers under internal/ are the bottom floor: each stands alone,
	// so any package may import it without importing anything upward.
	{dir: "internal/atomicfile", allow: []string{"internal/atomicfile"}},
	{dir: "internal/termsafe", allow: []string{"internal/termsafe"}},
	{dir: "ratelimit", allow: []string{"ratelimit", "golang.org/x/time"}},
	{dir: "internal/tlspl", allow: []string{"internal/tlspl"}},
	{dir: "internal/promreg", allow: []string{"internal/promreg", "github.com/prometheus/", "github.com/beorn7/", "github.com/cespare/",
		"github.com/munnerz/", "github.com/pandatix/", "golang.org/x/sys", "golang.org/x/text", "golang.org/x/net", "google.golang.org/protobuf"}},
	{dir: "internal/tlsfingerprint", allow: []string{"internal/tlsfingerprint", "golang.org/x/crypto", "github.com/refraction-networking/utls"}},
	{dir: "internal/testenv", allow: []string{"internal/testenv"}},
	{dir: "internal/e2etest", allow: []string{"internal/e2etest"}},
	{dir: "internal/testnet", allow: []string{"internal/testnet"}},
	{dir: "internal/buildtest", allow: []string{"internal/buildtest"}},
	{dir: "internal/testreport", allow: []string{"internal/testreport"}},
	{dir: "internal/shaperecord", allow: []string{"internal/shaperecord"}},
	{dir: "internal/rawio", allow: []string{"internal/rawio"}},
}

// TestCLIImportedOnlyByMain: internal/cli is the top floor; only the
// binary's main package sits above it.
func TestCLIImportedOnlyByMain(t *testing.T) {
	for _, p := range listPackages(t) {
		path := rel(p.ImportPath)
		if under(path, "internal/cli") || path == "cmd/samizdat" {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) && under(rel(imp), "internal/cli") {
				t.Errorf("%s imports %s; only cmd/samizdat may (docs/architecture.md)", path, imp)
			}
		}
	}
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		path := rel(p.ImportPath)
		for _, r := range layoutRules {
			if !under(path, r.dir) {
				continue
			}
			deps := p.Deps
			if r.dir == "cmd/samizdat" {
				deps = p.Imports // only the direct imports are restricted
			}
			for _, d := range deps {
				if isStd(d) {
					continue
				}
				inModule := strings.HasPrefix(d, module+"/") || d == module
				dr := rel(d)
				for _, n := range r.never {
					if inModule && under(dr, n) {
						t.Errorf("%s depends on %s: packages under %s/ must never import %s/ (docs/architecture.md)", path, dr, r.dir, n)
					}
				}
				if r.allow == nil {
					continue
				}
				ok := false
				for _, a := range r.allow {
					if (inModule && under(dr, a)) || (!inModule && strings.HasPrefix(d, a)) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s depends on %s, which packages under %s/ may not use (docs/architecture.md)", path, d, r.dir)
				}
			}
		}
	}
}

// TestCLIOnlyPackages: the lab is a test harness and a subcommand, and the
// load generators are the bench subcommands' engine; neither is ever a
// dependency of the product's packages.
func TestCLIOnlyPackages(t *testing.T) {
	pkgs := listPackages(t)
	for _, only := range []string{"censor", "internal/loadgen"} {
		for _, p := range pkgs {
			path := rel(p.ImportPath)
			if under(path, only) || under(path, "internal/cli") {
				continue
			}
			for _, imp := range p.Imports {
				if under(rel(imp), only) && strings.HasPrefix(imp, module) {
					t.Errorf("%s imports %s; only internal/cli and tests may", path, imp)
				}
			}
		}
	}
}

func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment saying what it owns", p.ImportPath)
		}
	}
}

// maxLines is a hard ceiling; the house style aims at about 600.
const maxLines = 700

func TestFilesStaySmall(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, f := range p.GoFiles {
			name := filepath.Join(p.Dir, f)
			fh, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				n++
			}
			fh.Close()
			if n > maxLines {
				t.Errorf("%s has %d lines; split it by role (limit %d, aim for ~600)", rel(p.ImportPath)+"/"+f, n, maxLines)
			}
		}
	}
}
