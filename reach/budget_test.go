package reach

import (
	"testing"
	"time"
)

// TestBudgetLearned: the smallest freeze is kept per network and path, a
// freeze below MinBudget teaches nothing, the budget survives the store and
// is forgotten after BudgetTTL; Exhausted moves on at 3/5 of it.
func TestBudgetLearned(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1_800_000_000, 0)
	if m.NoteFreeze("n", "p", MinBudget-1, 20000, now) {
		t.Error("a freeze below MinBudget was learned")
	}
	if _, ok := m.Budget("n", "p", now); ok {
		t.Fatal("a budget exists before any freeze")
	}
	m.NoteFreeze("n", "p", 18000, 30000, now)
	m.NoteFreeze("n", "p", 15000, 32000, now.Add(time.Minute))
	m.NoteFreeze("n", "p", 19000, 25000, now.Add(2*time.Minute))
	b, ok := m.Budget("n", "p", now.Add(3*time.Minute))
	if !ok || b.RX != 15000 || b.Total != 25000 {
		t.Fatalf("budget %+v %v; want rx 15000, total 25000", b, ok)
	}
	if _, ok := m.Budget("other-net", "p", now); ok {
		t.Error("a budget leaked to another network")
	}
	if _, ok := m.Budget("n", "other-path", now); ok {
		t.Error("a budget leaked to another path")
	}
	for _, tc := range []struct {
		rx, total int64
		want      bool
	}{{8999, 14999, false}, {9000, 9000, true}, {100, 15000, true}, {0, 0, false}} {
		if got := b.Exhausted(tc.rx, tc.total); got != tc.want {
			t.Errorf("Exhausted(%d, %d) = %v, want %v", tc.rx, tc.total, got, tc.want)
		}
	}
	data, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	m2 := NewMemory()
	if err := m2.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if b2, ok := m2.Budget("n", "p", now.Add(3*time.Minute)); !ok || b2.RX != 15000 {
		t.Errorf("after the store: %+v %v", b2, ok)
	}
	if _, ok := m2.Budget("n", "p", now.Add(2*time.Minute+BudgetTTL)); ok {
		t.Error("a budget older than BudgetTTL is still used")
	}
	// A stored budget that makes no sense is dropped, not used.
	bad := NewMemory()
	if err := bad.UnmarshalJSON([]byte(`{"n":{"budget":{"p":{"rx":10,"total":5,"at":"2026-12-06T00:00:00Z"},"q":null}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := bad.Budget("n", "p", now); ok {
		t.Error("a nonsensical stored budget is used")
	}
}
