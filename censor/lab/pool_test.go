package lab

import (
	"testing"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
)

// TestPoolLinks: one relay link becomes one per pool address, each with
// its own address, label and ID; a link that is not one relay is refused.
func TestPoolLinks(t *testing.T) {
	pool := poolRelays(50)
	if pool[49].Addr.String() != "198.18.24.50" || pool[49].Name != "pool-50" {
		t.Fatalf("pool's last relay: %s %s", pool[49].Name, pool[49].Addr)
	}
	spec := transport.Spec{Name: "direct", Addr: "198.18.24.1:443"}
	text := reach.Link{Unsigned: []reach.Entry{{ID: reach.UnsignedID(spec), Kind: reach.KindRelay, Label: "pool-01", Spec: spec}}}.String()
	links, err := poolLinks(text, pool)
	if err != nil {
		t.Fatal(err)
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for i, lt := range links {
		l, err := reach.ParseLink(lt)
		if err != nil {
			t.Fatalf("link %d: %v", i, err)
		}
		e := l.Unsigned[0]
		if e.Spec.Addr != pool[i].endpoint().String() || e.Label != pool[i].Name {
			t.Errorf("link %d: %s %q, want %s %q", i, e.Spec.Addr, e.Label, pool[i].endpoint(), pool[i].Name)
		}
		ids[e.ID], addrs[e.Spec.Addr] = true, true
	}
	if len(ids) != 50 || len(addrs) != 50 {
		t.Errorf("%d distinct IDs and %d addresses, want 50 each", len(ids), len(addrs))
	}
	two := reach.Link{Unsigned: []reach.Entry{{ID: "a", Kind: reach.KindRelay, Spec: spec}, {ID: "b", Kind: reach.KindRelay, Spec: spec}}}.String()
	for _, bad := range []string{"not a link", two} {
		if _, err := poolLinks(bad, pool); err == nil {
			t.Errorf("poolLinks(%.30q) took it", bad)
		}
	}
}

// TestJudgePool: 5 of 50 pool relays burned passes, 6 fails; relays
// outside the pool do not count.
func TestJudgePool(t *testing.T) {
	burned := []string{"cdn-front", "cloud-b-obfs4", "pool-01", "pool-02", "pool-03", "pool-04", "pool-05"}
	r := &Report{Burned: burned}
	judgePool(r, 50)
	if len(r.Reasons) != 0 {
		t.Errorf("5 of 50: %v", r.Reasons)
	}
	r = &Report{Burned: append(burned, "pool-06")}
	judgePool(r, 50)
	if len(r.Reasons) != 1 {
		t.Errorf("6 of 50 passed")
	}
}
