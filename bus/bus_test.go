package bus

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/store"
)

// startNATS runs a real nats-server process listening on addr until the
// test ends, and waits until it accepts.
func startNATS(t *testing.T, addr string) *e2etest.Proc {
	t.Helper()
	bin := testenv.LookPath(t, "nats-server", "apt-get install nats-server")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p := e2etest.Start(t, bin, nil, "-a", host, "-p", port)
	p.WaitAccepting(t, addr, 10*time.Second)
	return p
}

// natsServer runs a real nats-server process on a free port until the test ends.
func natsServer(t *testing.T) string {
	t.Helper()
	addr := testnet.FreeAddr(t)
	startNATS(t, addr)
	return "nats://" + addr
}

// recorder is a Receiver that records what it was told.
type recorder struct {
	mu      sync.Mutex
	news    []store.DeviceID
	moved   []store.DeviceID
	posts   []uint64
	resyncs int
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) note(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}
func (r *recorder) MailboxNews(d []store.DeviceID) { r.note(func() { r.news = append(r.news, d...) }) }
func (r *recorder) SessionMoved(d store.DeviceID)  { r.note(func() { r.moved = append(r.moved, d) }) }
func (r *recorder) ChannelPosted(_ store.ChannelID, seq uint64) {
	r.note(func() { r.posts = append(r.posts, seq) })
}
func (r *recorder) Resync() { r.note(func() { r.resyncs++ }) }

// waitFor polls cond under r.mu until it holds or 5 s pass.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within 5s", what)
		}
	}
}

func node(t *testing.T, url string) (*Bus, *recorder) {
	b, err := Connect(url, &Options{ResyncDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	r := newRecorder()
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	return b, r
}

// TestNewsReachesOnlyTheSubscribedNode: a device's news goes to the node
// that holds its subscription, not to the others, and a subscription on a
// second node tells the first one to close its session.
func TestNewsReachesOnlyTheSubscribedNode(t *testing.T) {
	url := natsServer(t)
	a, ra := node(t, url)
	b, rb := node(t, url)
	c, rc := node(t, url)
	d := store.DeviceID{1, 2, 3}
	b.Subscribed(d)
	b.nc.Flush()
	a.MailboxNews([]store.DeviceID{d, {9}})
	rb.waitFor(t, "news at the subscribed node", func() bool { return len(rb.news) == 1 && rb.news[0] == d })

	c.Subscribed(d) // the device moved to c
	rb.waitFor(t, "handover at the old node", func() bool { return len(rb.moved) == 1 && rb.moved[0] == d })
	b.Unsubscribed(d)
	b.nc.Flush()
	c.nc.Flush()
	a.MailboxNews([]store.DeviceID{d})
	rc.waitFor(t, "news at the new node", func() bool { return len(rc.news) == 1 })

	a.ChannelPosted(store.ChannelID{7}, 42)
	rb.waitFor(t, "a channel post at b", func() bool { return len(rb.posts) == 1 && rb.posts[0] == 42 })
	rc.waitFor(t, "a channel post at c", func() bool { return len(rc.posts) == 1 && rc.posts[0] == 42 })

	time.Sleep(200 * time.Millisecond)
	ra.mu.Lock()
	defer ra.mu.Unlock()
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if len(ra.news) != 0 || len(ra.posts) != 0 || len(ra.moved) != 0 {
		t.Fatalf("the publishing node heard itself or others' devices: %+v", ra)
	}
	if len(rb.news) != 1 || len(rc.moved) != 0 {
		t.Fatalf("news for the device reached b after it left (%d), or c was told to close its own session (%d)", len(rb.news), len(rc.moved))
	}
}

// TestResyncAfterReconnect: when the NATS server goes away and comes back,
// the bus asks its node to look at the store again (notices may be lost).
func TestResyncAfterReconnect(t *testing.T) {
	addr := testnet.FreeAddr(t)
	nats := startNATS(t, addr)
	_, r := node(t, "nats://"+addr)
	nats.Kill()
	startNATS(t, addr)
	r.waitFor(t, "resync after reconnect", func() bool { return r.resyncs >= 1 })
}

// FuzzHandle: whatever arrives on the bus's subjects, handle never panics
// and only well-formed notices reach the receiver.
func FuzzHandle(f *testing.F) {
	f.Add("samizdat.chan", make([]byte, 56))
	f.Add("samizdat.dev.0102", []byte{1})
	f.Add("samizdat.dev."+fmt.Sprintf("%064x", 1), append([]byte{2}, make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		b := &Bus{prefix: "samizdat"}
		r := newRecorder()
		b.handle(r, natsMsg(subject, data))
		if len(r.posts)+len(r.news)+len(r.moved) > 1 {
			t.Fatal("one notice made several calls")
		}
	})
}

func natsMsg(subject string, data []byte) *nats.Msg { return &nats.Msg{Subject: subject, Data: data} }
