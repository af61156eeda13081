package format

import (
	"fmt"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

// checkRoundTrip decodes the hex field into v and checks that it re-encodes
// to the same bytes.
func checkRoundTrip(t *testing.T, hexData string, v codec.Unmarshaler) {
	t.Helper()
	want := mustHex(t, hexData)
	if err := codec.Unmarshal(want, v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	checkReencodes(t, want, v)
}

// The other vector files carry encoded structures too; every one of them
// must decode and re-encode exactly. (Their semantics are checked by the
// packages that own tree, key schedule and group logic.)
func TestOtherVectorStructures(t *testing.T) {
	t.Run("treekem", func(t *testing.T) {
		type vector struct {
			RatchetTree string `json:"ratchet_tree"`
			UpdatePaths []struct {
				UpdatePath string `json:"update_path"`
			} `json:"update_paths"`
		}
		vectors.Each(t, "treekem.json", func(t *testing.T, v vector) {
			checkRoundTrip(t, v.RatchetTree, new(RatchetTree))
			for _, u := range v.UpdatePaths {
				checkRoundTrip(t, u.UpdatePath, new(UpdatePath))
			}
		})
	})
	t.Run("tree-validation", func(t *testing.T) {
		type vector struct {
			Tree string `json:"tree"`
		}
		vectors.Each(t, "tree-validation.json", func(t *testing.T, v vector) { checkRoundTrip(t, v.Tree, new(RatchetTree)) })
	})
	t.Run("tree-operations", func(t *testing.T) {
		type vector struct {
			Proposal   string `json:"proposal"`
			TreeBefore string `json:"tree_before"`
			TreeAfter  string `json:"tree_after"`
		}
		vectors.Each(t, "tree-operations.json", func(t *testing.T, v vector) {
			checkRoundTrip(t, v.Proposal, new(Proposal))
			checkRoundTrip(t, v.TreeBefore, new(RatchetTree))
			checkRoundTrip(t, v.TreeAfter, new(RatchetTree))
		})
	})
	t.Run("transcript-hashes", func(t *testing.T) {
		type vector struct {
			AuthenticatedContent string `json:"authenticated_content"`
		}
		vectors.Each(t, "transcript-hashes.json", func(t *testing.T, v vector) {
			var ac AuthenticatedContent
			checkRoundTrip(t, v.AuthenticatedContent, &ac)
			if ac.Content.ContentType != ContentCommit || ac.Auth.ConfirmationTag == nil {
				t.Fatalf("content type %d, want a commit with a confirmation tag", ac.Content.ContentType)
			}
		})
	})
	t.Run("welcome", func(t *testing.T) {
		type vector struct {
			KeyPackage string `json:"key_package"`
			Welcome    string `json:"welcome"`
		}
		vectors.Each(t, "welcome.json", func(t *testing.T, v vector) {
			checkRoundTrip(t, v.KeyPackage, new(MLSMessage))
			checkRoundTrip(t, v.Welcome, new(MLSMessage))
		})
	})
	type passiveVector struct {
		KeyPackage  string  `json:"key_package"`
		Welcome     string  `json:"welcome"`
		RatchetTree *string `json:"ratchet_tree"`
		Epochs      []struct {
			Proposals []string `json:"proposals"`
			Commit    string   `json:"commit"`
		} `json:"epochs"`
	}
	for _, file := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json", "passive-client-random.json"} {
		vectors.Each(t, file, func(t *testing.T, v passiveVector) {
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
}
