package reach

import "time"

// Byte budgets (docs/spec/transports.md, "Byte budgets and liveness"):
// some censors let each connection to a destination carry only so many
// bytes and then freeze it without a reset (Russia's TSPU, 2024-2026:
// 15-20 KB to foreign hosting; in 2025 every TLS flow to foreign data
// centres, counted server to client). A fresh connection gets a fresh
// budget. The client notes, per network and path, how many bytes a
// connection had carried when it froze, keeps the smallest figure, and
// moves to a fresh connection before the next one reaches a share of it.

// Budget is what one connection on a path may carry on a network before it
// freezes: the bytes it had received (RX) and carried both ways (Total)
// when the freeze was noticed, the smallest seen, and when last noted.
type Budget struct {
	RX    int64     `json:"rx"`
	Total int64     `json:"total"`
	At    time.Time `json:"at"`
}

const (
	// MinBudget: a connection that froze before receiving this many bytes
	// is a blocked path (or a handshake cut short), not a budget.
	MinBudget = 4 << 10

	// BudgetTTL: a budget no freeze confirmed for this long is forgotten;
	// the censor may have lifted the rule, and learning it again costs
	// one frozen connection (about a second).
	BudgetTTL = 7 * 24 * time.Hour

	// budgetShareNum/budgetShareDen is the share of a budget at which a
	// connection moves on: budgets vary per flow (15-20 KB: by a quarter)
	// and the fresh connection's handshake needs room too.
	budgetShareNum, budgetShareDen = 3, 5
)

func (b *Budget) valid() bool { return b.RX >= MinBudget && b.Total >= b.RX }

// Exhausted reports whether a connection that has received rx bytes and
// carried total bytes both ways has used its share of the budget and
// should hand over to a fresh one.
func (b Budget) Exhausted(rx, total int64) bool {
	rxLeft, totalLeft := b.Room(rx, total)
	return rxLeft <= 0 || totalLeft <= 0
}

// Room returns how many more bytes a connection that has received rx
// bytes and carried total bytes both ways may receive, and carry both
// ways, before it reaches its share of the budget (negative past it): a
// file transfer sizes its requests to fit (docs/spec/attachments.md §5.1).
func (b Budget) Room(rx, total int64) (rxLeft, totalLeft int64) {
	return b.RX*budgetShareNum/budgetShareDen - rx, b.Total*budgetShareNum/budgetShareDen - total
}

// NoteFreeze records that a connection on path id froze on network after
// receiving rx bytes and carrying total bytes both ways. The smallest
// budget seen is kept. A freeze below MinBudget received bytes records
// nothing and returns false.
func (m *Memory) NoteFreeze(network, id string, rx, total int64, now time.Time) bool {
	nb := Budget{RX: rx, Total: max(total, rx), At: now}
	if !nb.valid() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.netLocked(network)
	if old := n.Budget[id]; old != nil && now.Sub(old.At) < BudgetTTL {
		nb.RX, nb.Total = min(nb.RX, old.RX), min(nb.Total, old.Total)
	}
	n.Budget[id] = &nb
	trimOldest(n.Budget, func(b *Budget) time.Time { return b.At })
	return true
}

// Budget returns the byte budget of path id on network, if one was learned
// within BudgetTTL before now.
func (m *Memory) Budget(network, id string, now time.Time) (Budget, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[network]; n != nil {
		if b := n.Budget[id]; b != nil && now.Sub(b.At) < BudgetTTL {
			return *b, true
		}
	}
	return Budget{}, false
}
