package store

import "sync"

// Newsroom tells watchers that a device's mailbox has news. Implementations
// embed one and call Announce after each commit; the zero value is ready.
// A notification is a coalescing signal, not a message: a watcher that was
// busy sees one value for many enqueues and then reads Pending.
type Newsroom struct {
	mu       sync.Mutex                              // guards watchers
	watchers map[DeviceID]map[chan struct{}]struct{} // per device, each with a buffer of 1
}

// Watch implements Store.Watch.
func (n *Newsroom) Watch(device DeviceID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.watchers == nil {
		n.watchers = make(map[DeviceID]map[chan struct{}]struct{})
	}
	set := n.watchers[device]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		n.watchers[device] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if set := n.watchers[device]; set != nil {
				delete(set, ch)
				if len(set) == 0 {
					delete(n.watchers, device)
				}
			}
		})
	}
	return ch, stop
}

// Announce signals every watcher of the given devices without blocking.
func (n *Newsroom) Announce(devices []DeviceID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.watchers) == 0 {
		return
	}
	for _, d := range devices {
		for ch := range n.watchers[d] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
