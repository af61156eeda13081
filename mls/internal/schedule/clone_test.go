package schedule

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

func TestSecretTreeCloneIsIndependent(t *testing.T) {
	s, _ := suite.Get(suite.X25519AES128GCMSHA256Ed25519)
	st, err := NewSecretTree(s, bytes.Repeat([]byte{9}, s.HashLen()), 4, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Derive generation 3 so that generations 0-2 sit in the past map.
	want, err := st.Key(1, Application, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := st.Clone()
	c.Consume(1, Application, 3)
	if _, err := c.Key(1, Application, 3); err == nil {
		t.Fatal("clone: consumed key returned again")
	}
	got, err := st.Key(1, Application, 3)
	if err != nil || !bytes.Equal(got.Key, want.Key) {
		t.Fatalf("original lost its key after the clone consumed it: %v", err)
	}
	if _, err := c.Key(1, Application, 1); err != nil {
		t.Fatalf("clone lost a past key: %v", err)
	}
	c.Wipe()
	if k, err := st.Key(1, Application, 1); err != nil || len(k.Key) == 0 || bytes.Equal(k.Key, make([]byte, len(k.Key))) {
		t.Fatalf("wiping the clone touched the original: %v", err)
	}
}
