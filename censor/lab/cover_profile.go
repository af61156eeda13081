package lab

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

// coverShapeProfile is the opening profile of the lab's cover site (the
// nginx of nginx.go): headless Chromium's connections while it loads pages
// of that site, recorded by `samizdat relay record-shape` as an operator
// records the site their relay fronts (docs/lab.md, "Known gaps:
// analyst-2026-classifier"). The lab's tlsws relays serve with it
// (--shape-profile), so their links carry it to the users. It is recorded
// on a copy of the site outside the lab, never from the flows the
// censor's classifier trains on. Refresh it with
//
//	go test ./censor/lab -run TestRecordCoverProfile -count=1 -record-cover-profile
//
//go:embed testdata/cover-shape-profile.txt
var coverShapeProfile []byte

// writeCoverProfile writes the cover's profile into the run's directory
// and returns its path.
func writeCoverProfile(dir string) (string, error) {
	path := filepath.Join(dir, "cover-shape-profile.txt")
	if err := os.WriteFile(path, coverShapeProfile, 0o644); err != nil {
		return "", fmt.Errorf("lab: writing the cover's shape profile: %w", err)
	}
	return path, nil
}
