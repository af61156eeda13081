package relay

import (
	"os"
	"strings"
	"testing"
)

// TestOperatorGuideShowsNginxSite: the nginx site configuration that
// docs/operator-guide.md tells operators to use is the file the probe
// tests run nginx with, so the guide cannot drift from what is tested.
func TestOperatorGuideShowsNginxSite(t *testing.T) {
	conf, err := os.ReadFile(nginxSiteFile)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile("../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "```nginx\n"+string(conf)+"```\n") {
		t.Fatalf("docs/operator-guide.md does not show %s verbatim in an nginx block; copy the file into the guide", nginxSiteFile)
	}
}
