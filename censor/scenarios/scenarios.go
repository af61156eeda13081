// Package scenarios holds the lab's scenario files (one published
// censorship event each, parsed by censor.ParseScenario) and embeds them in
// the binary for `samizdat lab list` and `samizdat lab run`.
package scenarios

import "embed"

// Files holds every *.json scenario file of this directory.
//
//go:embed *.json
var Files embed.FS
