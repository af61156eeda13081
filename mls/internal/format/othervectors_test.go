package format

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// checkRoundTrip decodes the hex field into v and checks that it re-encodes
// to the same bytes.
func checkRoundTrip(t *testing.T, hexData string, v codec.Unmarshaler) {
	t.Helper()
	want, err := hex.DecodeString(hexData)
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Unmarshal(want, v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	got, err := codec.Marshal(v.(codec.Marshaler))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, want)
	}
}

// The other vector files carry encoded structures too; every one of them
// must decode and re-encode exactly. (Their semantics are checked by the
// packages that own tree, key schedule and group logic.)
func TestOtherVectorStructures(t *testing.T) {
	t.Run("treekem", func(t *testing.T) {
		var vs []struct {
			RatchetTree string `json:"ratchet_tree"`
			UpdatePaths []struct {
				UpdatePath string `json:"update_path"`
			} `json:"update_paths"`
		}
		loadVectors(t, "treekem.json", &vs)
		for i, v := range vs {
			t.Run(fmt.Sprintf("treekem.json/%d/ratchet_tree", i), func(t *testing.T) { checkRoundTrip(t, v.RatchetTree, new(RatchetTree)) })
			for j, u := range v.UpdatePaths {
				t.Run(fmt.Sprintf("treekem.json/%d/update_paths/%d", i, j), func(t *testing.T) { checkRoundTrip(t, u.UpdatePath, new(UpdatePath)) })
			}
		}
	})
	t.Run("tree-validation", func(t *testing.T) {
		var vs []struct {
			Tree string `json:"tree"`
		}
		loadVectors(t, "tree-validation.json", &vs)
		for i, v := range vs {
			t.Run(fmt.Sprintf("tree-validation.json/%d/tree", i), func(t *testing.T) { checkRoundTrip(t, v.Tree, new(RatchetTree)) })
		}
	})
	t.Run("tree-operations", func(t *testing.T) {
		var vs []struct {
			Proposal   string `json:"proposal"`
			TreeBefore string `json:"tree_before"`
			TreeAfter  string `json:"tree_after"`
		}
		loadVectors(t, "tree-operations.json", &vs)
		for i, v := range vs {
			t.Run(fmt.Sprintf("tree-operations.json/%d", i), func(t *testing.T) {
				checkRoundTrip(t, v.Proposal, new(Proposal))
				checkRoundTrip(t, v.TreeBefore, new(RatchetTree))
				checkRoundTrip(t, v.TreeAfter, new(RatchetTree))
			})
		}
	})
	t.Run("transcript-hashes", func(t *testing.T) {
		var vs []struct {
			AuthenticatedContent string `json:"authenticated_content"`
		}
		loadVectors(t, "transcript-hashes.json", &vs)
		for i, v := range vs {
			t.Run(fmt.Sprintf("transcript-hashes.json/%d", i), func(t *testing.T) {
				var ac AuthenticatedContent
				checkRoundTrip(t, v.AuthenticatedContent, &ac)
				if ac.Content.ContentType != ContentCommit || ac.Auth.ConfirmationTag == nil {
					t.Fatalf("content type %d, want a commit with a confirmation tag", ac.Content.ContentType)
				}
			})
		}
	})
	t.Run("welcome", func(t *testing.T) {
		var vs []struct {
			KeyPackage string `json:"key_package"`
			Welcome    string `json:"welcome"`
		}
		loadVectors(t, "welcome.json", &vs)
		for i, v := range vs {
			t.Run(fmt.Sprintf("welcome.json/%d", i), func(t *testing.T) {
				checkRoundTrip(t, v.KeyPackage, new(MLSMessage))
				checkRoundTrip(t, v.Welcome, new(MLSMessage))
			})
		}
	})
	for _, file := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json", "passive-client-random.json"} {
		t.Run(file, func(t *testing.T) {
			var vs []struct {
				KeyPackage  string  `json:"key_package"`
				Welcome     string  `json:"welcome"`
				RatchetTree *string `json:"ratchet_tree"`
				Epochs      []struct {
					Proposals []string `json:"proposals"`
					Commit    string   `json:"commit"`
				} `json:"epochs"`
			}
			loadVectors(t, file, &vs)
			for i, v := range vs {
				t.Run(fmt.Sprintf("%s/%d", file, i), func(t *testing.T) {
					checkRoundTrip(t, v.KeyPackage, new(MLSMessage))
					checkRoundTrip(t, v.Welcome, new(MLSMessage))
					if v.RatchetTree != nil {
						checkRoundTrip(t, *v.RatchetTree, new(RatchetTree))
					}
					for j, e := range v.Epochs {
						for k, p := range e.Proposals {
							t.Run(fmt.Sprintf("epochs/%d/proposals/%d", j, k), func(t *testing.T) { checkRoundTrip(t, p, new(MLSMessage)) })
						}
						t.Run(fmt.Sprintf("epochs/%d/commit", j), func(t *testing.T) { checkRoundTrip(t, e.Commit, new(MLSMessage)) })
					}
				})
			}
		})
	}
}
