package relay

import (
	"os"
	"strings"
	"testing"
)

// TestOperatorGuideShowsSiteFiles: the nginx site and the Caddyfile that
// docs/operator-guide.md tells operators to use are the files the probe
// tests run nginx and Caddy with, so the guide cannot drift from what is
// tested.
func TestOperatorGuideShowsSiteFiles(t *testing.T) {
	guide, err := os.ReadFile("../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ file, lang string }{{nginxSiteFile, "nginx"}, {caddySiteFile, "caddyfile"}} {
		conf, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(guide), "```"+f.lang+"\n"+string(conf)+"```\n") {
			t.Errorf("docs/operator-guide.md does not show %s verbatim in a %s block; copy the file into the guide", f.file, f.lang)
		}
	}
}
