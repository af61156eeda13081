package schedule

import (
	"maps"

	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// Clone returns an independent deep copy of the tree: using or wiping keys
// of one never affects the other. The group engine decrypts handshake
// messages with a clone and keeps it only if processing succeeds.
func (t *SecretTree) Clone() *SecretTree {
	c := &SecretTree{
		suite: t.suite, nLeaves: t.nLeaves, cfg: t.cfg,
		nodes:    make(map[treemath.NodeIndex][]byte, len(t.nodes)),
		ratchets: make(map[uint32]*[2]ratchet, len(t.ratchets)),
	}
	for k, v := range t.nodes {
		c.nodes[k] = append([]byte(nil), v...)
	}
	for leaf, rs := range t.ratchets {
		var cp [2]ratchet
		for i, r := range rs {
			cp[i] = ratchet{next: r.next, secret: append([]byte(nil), r.secret...)}
			if r.past != nil {
				cp[i].past = make(map[uint32]KeyNonce, len(r.past))
				for g, kn := range maps.All(r.past) {
					cp[i].past[g] = kn.clone()
				}
			}
		}
		c.ratchets[leaf] = &cp
	}
	return c
}
