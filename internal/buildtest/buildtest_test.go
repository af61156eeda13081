package buildtest

import (
	"os"
	"testing"
)

func TestSamizdatBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	bin, err := Samizdat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 {
		t.Fatalf("no binary at %s: %v", bin, err)
	}
}
