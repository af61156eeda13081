package reach

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock is the time source of the dialer and the reconnect loop; tests
// inject a fake one.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Backoff is an exponential backoff with jitter: after the n-th consecutive
// failure a path waits a delay drawn uniformly from [d/2, d] where
// d = min(Max, Base·2^(n-1)) ("equal jitter": never zero, never in lockstep
// with other clients).
type Backoff struct {
	Base time.Duration // first delay; default 2s
	Max  time.Duration // ceiling; default 10 min
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = 2 * time.Second
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Minute
	}
	return b
}

// Delay returns the delay after the failures-th consecutive failure (>= 1);
// randN(n) must return a value in [0, n).
func (b Backoff) Delay(failures int, randN func(int64) int64) time.Duration {
	b = b.withDefaults()
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(randN(int64(d-half)+1))
}

// Memory is what the dialer remembers: per network, which paths worked and
// when; per network and path, the failures and until when it is backed off.
// A network is an opaque string the caller supplies (a hash of the local
// addresses, the Wi-Fi SSID, the mobile carrier): a relay blocked on one
// ISP is often fine on another. Memory is safe for concurrent use and
// serializes to JSON for the client's store.
type Memory struct {
	mu   sync.Mutex              // guards nets
	nets map[string]*networkMemo // by network
}

type networkMemo struct {
	Worked map[string]time.Time `json:"worked,omitempty"` // path ID -> last success
	Failed map[string]*failMemo `json:"failed,omitempty"` // path ID -> backoff state
	Budget map[string]*Budget   `json:"budget,omitempty"` // path ID -> learned byte budget (budget.go)
}

type failMemo struct {
	Count int       `json:"count"`
	Until time.Time `json:"until"`
}

// NewMemory returns an empty memory.
func NewMemory() *Memory { return &Memory{nets: make(map[string]*networkMemo)} }

// maxRemembered bounds what one network remembers, so the store stays small.
const maxRemembered = 64

func (m *Memory) netLocked(network string) *networkMemo {
	n := m.nets[network]
	if n == nil {
		n = &networkMemo{Worked: make(map[string]time.Time), Failed: make(map[string]*failMemo), Budget: make(map[string]*Budget)}
		m.nets[network] = n
	}
	return n
}

// Succeeded records that path id worked on network at now and clears its
// backoff.
func (m *Memory) Succeeded(network, id string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.netLocked(network)
	delete(n.Failed, id)
	n.Worked[id] = now
	trimOldest(n.Worked, func(t time.Time) time.Time { return t })
}

// Failed records a failure of path id on network and backs it off until the
// returned time.
func (m *Memory) Failed(network, id string, now time.Time, b Backoff, randN func(int64) int64) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.netLocked(network)
	delete(n.Worked, id)
	f := n.Failed[id]
	if f == nil {
		f = &failMemo{}
		n.Failed[id] = f
	}
	f.Count++
	f.Until = now.Add(b.Delay(f.Count, randN))
	trimOldest(n.Failed, func(f *failMemo) time.Time { return f.Until })
	return f.Until
}

// Demote forgets that path id worked on network, leaving its backoff as it
// is.
func (m *Memory) Demote(network, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[network]; n != nil {
		delete(n.Worked, id)
	}
}

// BackedOff reports whether path id is backed off on network at now, and
// until when.
func (m *Memory) BackedOff(network, id string, now time.Time) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[network]; n != nil {
		if f := n.Failed[id]; f != nil && now.Before(f.Until) {
			return f.Until, true
		}
	}
	return time.Time{}, false
}

// LastWorked returns when path id last worked on network (zero if never).
func (m *Memory) LastWorked(network, id string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[network]; n != nil {
		return n.Worked[id]
	}
	return time.Time{}
}

// Failures returns the number of consecutive failures of id on network.
func (m *Memory) Failures(network, id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nets[network]; n != nil && n.Failed[id] != nil {
		return n.Failed[id].Count
	}
	return 0
}

func trimOldest[V any](m map[string]V, when func(V) time.Time) {
	for len(m) > maxRemembered {
		var oldest string
		var ot time.Time
		for k, v := range m {
			if t := when(v); oldest == "" || t.Before(ot) {
				oldest, ot = k, t
			}
		}
		delete(m, oldest)
	}
}

// MarshalJSON serializes the memory.
func (m *Memory) MarshalJSON() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return json.Marshal(m.nets)
}

// UnmarshalJSON replaces the memory with a serialized one.
func (m *Memory) UnmarshalJSON(data []byte) error {
	nets := make(map[string]*networkMemo)
	if err := json.Unmarshal(data, &nets); err != nil {
		return fmt.Errorf("reach: decoding dialer memory: %w", err)
	}
	for k, n := range nets {
		if n == nil {
			delete(nets, k)
			continue
		}
		if n.Worked == nil {
			n.Worked = make(map[string]time.Time)
		}
		if n.Failed == nil {
			n.Failed = make(map[string]*failMemo)
		}
		for id, f := range n.Failed {
			if f == nil {
				delete(n.Failed, id)
			}
		}
		if n.Budget == nil {
			n.Budget = make(map[string]*Budget)
		}
		for id, b := range n.Budget {
			if b == nil || !b.valid() {
				delete(n.Budget, id)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nets = nets
	return nil
}

func defaultRandN(n int64) int64 { return rand.Int64N(n) }
