package server

import (
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Several nodes, one service (docs/operator-guide.md "From one node to
// three"): server processes that share one database tell each other what
// only the node that made it knows, through a Notifier (package bus, over
// NATS). The durable record stays in the store; a notice is a hint to look
// at it, so a lost notice only delays a push until the next notice or the
// Resync after the bus reconnects.

// Notifier carries a node's news to the other nodes. Its methods must not
// block on the network (they run on the send path).
type Notifier interface {
	// MailboxNews: these devices' mailboxes got entries (committed).
	MailboxNews(devices []store.DeviceID)
	// ChannelPosted: the channel's posts up to seq are stored.
	ChannelPosted(channel store.ChannelID, seq uint64)
	// Subscribed: the device's subscription (wire.md §6.6) now lives on
	// this node; the node that held it before closes that session, and
	// the device's mailbox news is routed here from now on.
	Subscribed(device store.DeviceID)
	// Unsubscribed: the device's subscription left this node.
	Unsubscribed(device store.DeviceID)
}

// The methods below are the other direction: the bus calls them with what
// other nodes announced.

// MailboxNews wakes this node's subscribers of devices.
func (s *Server) MailboxNews(devices []store.DeviceID) { s.hub.notify(devices) }

// SessionMoved closes this node's subscribed session of device: the device
// subscribed on another node (wire.md §6.6, across nodes).
func (s *Server) SessionMoved(device store.DeviceID) {
	s.hub.mu.Lock()
	ss := s.hub.subs[device]
	s.hub.mu.Unlock()
	if ss != nil {
		ss.fail(0, wire.Errorf(wire.CodeConflict, "a newer session of this device subscribed on another node; this one closes"))
	}
}

// ChannelPosted brings a channel this node has live up to the posts another
// node stored, and fans them out to this node's subscribers. The posts are
// read from the store, never taken from the bus.
func (s *Server) ChannelPosted(id store.ChannelID, seq uint64) {
	s.chans.mu.Lock()
	lc := s.chans.chans[wire.ChannelID(id)]
	s.chans.mu.Unlock()
	if lc == nil {
		return // not live here: the next subscriber loads it from the store
	}
	s.catchUp(lc, seq)
}

// Resync wakes every subscriber on this node and brings every live
// channel up to the store, for the notices lost while the bus was away.
func (s *Server) Resync() {
	s.hub.mu.Lock()
	devices := make([]store.DeviceID, 0, len(s.hub.subs))
	for d := range s.hub.subs {
		devices = append(devices, d)
	}
	s.hub.mu.Unlock()
	s.hub.notify(devices)
	s.chans.mu.Lock()
	live := make([]*liveChannel, 0, len(s.chans.chans))
	for _, lc := range s.chans.chans {
		live = append(live, lc)
	}
	s.chans.mu.Unlock()
	for _, lc := range live {
		s.catchUp(lc, 0)
	}
}

// catchUp publishes the stored posts of lc after its last seq (at least up
// to seq, when seq is not 0) to this node's subscribers.
func (s *Server) catchUp(lc *liveChannel, seq uint64) {
	cs, ok := s.cfg.Store.(store.ChannelStore)
	if !ok {
		return
	}
	lc.postMu.Lock()
	defer lc.postMu.Unlock()
	for {
		lc.mu.RLock()
		last := lc.lastSeq
		lc.mu.RUnlock()
		if seq != 0 && last >= seq {
			return
		}
		ctx, cancel := s.storeCtx()
		posts, err := cs.ChannelPosts(ctx, store.ChannelID(lc.id), last, channelRing)
		cancel()
		if err != nil {
			s.log.Warn("channel catch-up from the store failed; the next post retries", "err", err)
			return
		}
		if len(posts) == 0 {
			return
		}
		for _, p := range posts {
			// Stored posts were verified by the node that stored them;
			// Apply keeps the admin state current for this node's checks.
			if dp, err := channel.DecodePost(p.Post); err == nil {
				lc.state.Apply(dp)
			}
			lc.publish(p.Seq, p.Post)
		}
	}
}

// notifyElsewhere tells the other nodes about the devices that have no
// subscriber on this node.
func (s *Server) notifyElsewhere(devices []store.DeviceID) {
	n := s.cfg.Notifier
	if n == nil {
		return
	}
	var away []store.DeviceID
	s.hub.mu.Lock()
	for _, d := range devices {
		if s.hub.subs[d] == nil {
			away = append(away, d)
		}
	}
	s.hub.mu.Unlock()
	if len(away) > 0 {
		n.MailboxNews(away)
	}
}
