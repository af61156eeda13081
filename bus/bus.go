// Package bus carries the news between the server nodes of one samizdat
// service over NATS (github.com/nats-io/nats.go; nats-server runs as its
// own process or cluster): "device D has new messages" from the node that
// stored the message to the node holding D's subscription, "channel C has
// posts up to seq S" to every node for the fanout to its own subscribers,
// and "device D subscribed on node N" so that the node that held D's
// subscription before closes that session (session handover).
//
// The bus carries hints, never messages: the durable record is the store
// (PostgreSQL), which every node reads. NATS core delivery is at most
// once, so a lost hint must cost a delay, not a message: after the
// connection comes back, and after a slow-consumer drop, the bus calls
// Receiver.Resync, which makes the node look at the store again.
//
// Subjects (PREFIX is Options.Prefix, "samizdat" by default):
//
//	PREFIX.dev.<hex device id>   1 byte kind (1 news, 2 subscribed) + 16-byte node id
//	PREFIX.chan                  32-byte channel id + 8-byte seq (big endian) + 16-byte node id
//
// A node subscribes to the subject of each device whose subscription it
// holds, so NATS routes a device's news to that node only.
package bus

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/samizdat-project/samizdat/store"
)

// Receiver is what the node does with what the other nodes announce
// (server.Server implements it).
type Receiver interface {
	MailboxNews(devices []store.DeviceID)
	SessionMoved(device store.DeviceID)
	ChannelPosted(channel store.ChannelID, seq uint64)
	Resync()
}

// Options tune a Bus; the zero value is the production default.
type Options struct {
	Prefix string       // subject prefix (default "samizdat"); nodes of one service share it
	Name   string       // the connection's name in nats-server's monitoring
	Logger *slog.Logger // default slog.Default
	// ResyncDelay: a Subscribed device is woken again this long after its
	// subscription was announced, for news published before the other
	// NATS servers of the cluster learned the new interest (default 2s).
	ResyncDelay time.Duration
}

// Message kinds on a device subject.
const (
	kindNews       = 1
	kindSubscribed = 2
)

type nodeID [16]byte

// Bus is one node's connection to the NATS bus. It implements
// server.Notifier. Its methods are safe for concurrent use.
type Bus struct {
	nc     *nats.Conn
	node   nodeID
	prefix string
	log    *slog.Logger
	delay  time.Duration

	recv atomic.Pointer[receiverBox] // set by Start
	in   chan *nats.Msg              // every subscription delivers here; one goroutine reads it
	done chan struct{}               // closed by Close

	mu   sync.Mutex // guards devs
	devs map[store.DeviceID]*nats.Subscription

	resyncPending atomic.Bool

	// Counters for the node's metrics.
	Published, Received, Dropped, Resyncs atomic.Int64
}

type receiverBox struct{ r Receiver }

// inBuffer is how many received notices may wait for the reader before
// NATS drops them as a slow consumer (and the bus resyncs).
const inBuffer = 1 << 16

// Connect connects to the NATS servers named by url (comma-separated
// nats:// URLs, any of the cluster's), retrying for ever in the background
// when they are down. Call Start to receive.
func Connect(url string, o *Options) (*Bus, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Prefix == "" {
		opts.Prefix = "samizdat"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ResyncDelay <= 0 {
		opts.ResyncDelay = 2 * time.Second
	}
	b := &Bus{
		prefix: opts.Prefix,
		log:    opts.Logger,
		delay:  opts.ResyncDelay,
		in:     make(chan *nats.Msg, inBuffer),
		done:   make(chan struct{}),
		devs:   make(map[store.DeviceID]*nats.Subscription),
	}
	rand.Read(b.node[:])
	nc, err := nats.Connect(url,
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("bus: disconnected from NATS; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("bus: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
			b.resync() // notices may have been lost while away
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				b.Dropped.Add(1)
				b.resync()
				return
			}
			b.log.Warn("bus: NATS error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("bus: doing connect to %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

// Start delivers what other nodes announce to r, from now on.
func (b *Bus) Start(r Receiver) error {
	b.recv.Store(&receiverBox{r})
	if _, err := b.nc.ChanSubscribe(b.prefix+".chan", b.in); err != nil {
		return fmt.Errorf("bus: doing subscribe to channel posts: %w", err)
	}
	go b.read()
	return nil
}

// Close leaves the bus.
func (b *Bus) Close() {
	select {
	case <-b.done:
		return
	default:
	}
	close(b.done)
	b.nc.Close()
}

// Connected reports whether the bus has a NATS server now (for /readyz).
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

func (b *Bus) devSubject(d store.DeviceID) string {
	return b.prefix + ".dev." + hex.EncodeToString(d[:])
}

func (b *Bus) publish(subject string, data []byte) {
	if err := b.nc.Publish(subject, data); err != nil {
		// Closed, or the reconnect buffer is full: the hint is lost, and
		// the other nodes resync when they see us again.
		b.Dropped.Add(1)
		return
	}
	b.Published.Add(1)
}

// MailboxNews implements server.Notifier.
func (b *Bus) MailboxNews(devices []store.DeviceID) {
	msg := make([]byte, 1+len(nodeID{}))
	msg[0] = kindNews
	copy(msg[1:], b.node[:])
	for _, d := range devices {
		b.publish(b.devSubject(d), msg)
	}
}

// ChannelPosted implements server.Notifier.
func (b *Bus) ChannelPosted(ch store.ChannelID, seq uint64) {
	msg := make([]byte, 0, 32+8+16)
	msg = append(msg, ch[:]...)
	msg = binary.BigEndian.AppendUint64(msg, seq)
	msg = append(msg, b.node[:]...)
	b.publish(b.prefix+".chan", msg)
}

// Subscribed implements server.Notifier: it routes the device's news here
// and tells the node that held its subscription before to close it.
func (b *Bus) Subscribed(d store.DeviceID) {
	subject := b.devSubject(d)
	b.mu.Lock()
	if b.devs[d] == nil {
		sub, err := b.nc.ChanSubscribe(subject, b.in)
		if err != nil {
			b.log.Warn("bus: subscribing to a device's news failed; it gets pushes only from this node's sends", "err", err)
		} else {
			b.devs[d] = sub
		}
	}
	b.mu.Unlock()
	msg := make([]byte, 1+len(nodeID{}))
	msg[0] = kindSubscribed
	copy(msg[1:], b.node[:])
	b.publish(subject, msg)
	// News published before the cluster's other servers learned that
	// this node wants it went nowhere: look at the mailbox again soon.
	time.AfterFunc(b.delay, func() {
		if r := b.recv.Load(); r != nil {
			b.mu.Lock()
			here := b.devs[d] != nil
			b.mu.Unlock()
			if here {
				r.r.MailboxNews([]store.DeviceID{d})
			}
		}
	})
}

// Unsubscribed implements server.Notifier.
func (b *Bus) Unsubscribed(d store.DeviceID) {
	b.mu.Lock()
	sub := b.devs[d]
	delete(b.devs, d)
	b.mu.Unlock()
	if sub != nil {
		sub.Unsubscribe()
	}
}

// resync asks the receiver to look at the store again, once for however
// many reasons arrive while it runs.
func (b *Bus) resync() {
	if !b.resyncPending.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.resyncPending.Store(false)
		if r := b.recv.Load(); r != nil {
			b.Resyncs.Add(1)
			r.r.Resync()
		}
	}()
}

// read hands received notices to the receiver, one at a time.
func (b *Bus) read() {
	r := b.recv.Load().r
	for {
		select {
		case <-b.done:
			return
		case m := <-b.in:
			b.Received.Add(1)
			b.handle(r, m)
		}
	}
}

// handle decodes one notice; malformed ones (not from a samizdat node)
// are dropped.
func (b *Bus) handle(r Receiver, m *nats.Msg) {
	data := m.Data
	if m.Subject == b.prefix+".chan" {
		if len(data) != 32+8+16 || nodeID(data[40:]) == b.node {
			return
		}
		r.ChannelPosted(store.ChannelID(data[:32]), binary.BigEndian.Uint64(data[32:40]))
		return
	}
	d, ok := b.deviceOf(m.Subject)
	if !ok || len(data) != 1+16 {
		return
	}
	from := nodeID(data[1:])
	switch data[0] {
	case kindNews:
		r.MailboxNews([]store.DeviceID{d})
	case kindSubscribed:
		if from != b.node {
			r.SessionMoved(d)
		}
	}
}

// deviceOf parses PREFIX.dev.<hex id>.
func (b *Bus) deviceOf(subject string) (store.DeviceID, bool) {
	var d store.DeviceID
	p := b.prefix + ".dev."
	if len(subject) != len(p)+2*len(d) || subject[:len(p)] != p {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(subject[len(p):])); err != nil {
		return d, false
	}
	return d, true
}
