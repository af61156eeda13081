// Package vectors loads the RFC 9420 interoperability test vectors
// (mls/testdata/vectors, from the mls-implementations repository) for the
// tests of the mls packages: the file reader and the hex field type they
// all decode with. It is for tests only and imports nothing of samizdat.
package vectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Hex is a byte string written in the vectors as a JSON hex string; a JSON
// null decodes to nil.
type Hex []byte

// UnmarshalJSON decodes a hex string (or null).
func (h *Hex) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// Dir is the folder of the vector files, found from this source file so
// that the tests of every mls package read the same one.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vectors")
}

// Load decodes the vector file name into v, failing the test if it cannot.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatalf("vectors: reading %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("vectors: decoding %s: %v", name, err)
	}
}

// Each loads the vector file name, a JSON array of V, and runs check on
// every element as a subtest named after the file and the element's index
// ("name/3"). A file that holds no vectors fails the test: a check that
// ran over nothing would pass without testing anything.
func Each[V any](t *testing.T, name string, check func(t *testing.T, v V)) {
	t.Helper()
	var vs []V
	Load(t, name, &vs)
	if len(vs) == 0 {
		t.Fatalf("vectors: %s holds no vectors", name)
	}
	for i, v := range vs {
		t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) { check(t, v) })
	}
}
