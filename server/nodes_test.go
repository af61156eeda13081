package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// loopBus is an in-process bus between the nodes of a test: what one
// node's Notifier announces reaches every other node (package bus does
// the same over NATS).
type loopBus struct {
	mu    sync.Mutex
	nodes []*server.Server
}

type loopNode struct {
	b    *loopBus
	self int
}

func (n loopNode) others(f func(*server.Server)) {
	n.b.mu.Lock()
	nodes := append([]*server.Server(nil), n.b.nodes...)
	n.b.mu.Unlock()
	for i, s := range nodes {
		if i != n.self && s != nil {
			go f(s) // a bus never delivers on the sender's stack
		}
	}
}

func (n loopNode) MailboxNews(d []store.DeviceID) {
	d = append([]store.DeviceID(nil), d...)
	n.others(func(s *server.Server) { s.MailboxNews(d) })
}
func (n loopNode) ChannelPosted(c store.ChannelID, seq uint64) {
	n.others(func(s *server.Server) { s.ChannelPosted(c, seq) })
}
func (n loopNode) Subscribed(d store.DeviceID) {
	n.others(func(s *server.Server) { s.SessionMoved(d) })
}
func (n loopNode) Unsubscribed(d store.DeviceID) {}

// twoNodes starts two servers on one store, joined by a loopBus.
func twoNodes(t *testing.T) [2]*testServer {
	st := sqlitetest.Open(t)
	b := &loopBus{nodes: make([]*server.Server, 2)}
	var ts [2]*testServer
	for i := range ts {
		ts[i] = startServerWith(t, st, nil, func(c *server.Config) { c.Notifier = loopNode{b, i} })
		b.mu.Lock()
		b.nodes[i] = ts[i].srv
		b.mu.Unlock()
	}
	return ts
}

// TestTwoNodesMailboxNews: a message stored through one node reaches the
// recipient subscribed on the other at once.
func TestTwoNodesMailboxNews(t *testing.T) {
	n := twoNodes(t)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, n[0], alice)
	cb := connect(t, n[1], bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	cb.none()
	ca.must(app("across nodes", bob.deviceID()), wire.TypeAck)
	if d := cb.next(); string(d.Payload) != "across nodes" {
		t.Fatalf("delivered %q", d.Payload)
	}
}

// TestTwoNodesSessionHandover: a device that subscribes on another node
// takes its subscription over; the old node closes the old session.
func TestTwoNodesSessionHandover(t *testing.T) {
	n := twoNodes(t)
	bob := newIdentity(newAccount())
	old := connect(t, n[0], bob)
	old.must(&wire.Subscribe{}, wire.TypeOK)
	nu := connect(t, n[1], bob)
	nu.must(&wire.Subscribe{}, wire.TypeOK)
	select {
	case e := <-old.connErr:
		if e.Code != wire.CodeConflict {
			t.Fatalf("old session closed with %v, want Conflict", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the old node kept the device's older subscription")
	}
}

// TestTwoNodesChannelFanout: a channel's subscriber on one node gets the
// posts made through the other.
func TestTwoNodesChannelFanout(t *testing.T) {
	n := twoNodes(t)
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	desc, err := channel.NewDescriptor(owner, "news", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	id := wire.ChannelID(desc.ID())
	pub := dial(t, n[0], newIdentity(newAccount()))
	pub.hello()
	pub.must(&wire.CreateChannel{Descriptor: desc.Encode()}, wire.TypeOK)
	sub := dial(t, n[1], newIdentity(newAccount()))
	pushes := sub.chanPush
	sub.hello()
	sub.must(&wire.SubscribeChannel{Channel: id}, wire.TypeOK)
	for seq := uint64(1); seq <= 3; seq++ {
		p := &channel.Post{Channel: desc.ID(), Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindText, Body: []byte("post")}
		if err := p.Sign(owner, nil); err != nil {
			t.Fatal(err)
		}
		pub.must(&wire.PostToChannel{Post: p.Encode()}, wire.TypeOK)
		got := 0
		for got == 0 {
			select {
			case push := <-pushes:
				for _, b := range push.Posts {
					if _, s, _ := channel.PeekSeq(b); s == seq {
						got++
					}
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("post %d did not reach the subscriber on the other node", seq)
			}
		}
	}
}
