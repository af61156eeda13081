package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// Options configure Open and Init.
type Options struct {
	// Home is the directory of the local store.
	Home string
	// Passphrase opens the store; Open and Init copy it and never keep it.
	Passphrase []byte
	// Dialer reaches the server's addresses (TCPDialer if nil).
	Dialer Dialer
	// KDF is the Argon2id cost for Init (DefaultKDF if nil).
	KDF *KDFParams
	// KeyPackageBatch is how many one-time KeyPackages to publish at a time
	// (wire.MaxKeyPackages if 0); a top-up happens below a fifth of it.
	KeyPackageBatch int
	// OnMessage, if set, is called with every message stored while the
	// client runs (incoming texts, events, errors), outside any lock.
	OnMessage func(Message)
	// OnSent, if set, is called with what the server saw of every Send it
	// acknowledged (for the demo and for curious users).
	OnSent func(SentInfo)
	// Logf, if set, receives diagnostics (never secrets).
	Logf func(format string, args ...any)

	// Reach (reach.go): when the server link carries a book key, the
	// client races the paths of its endpoint book instead of dialing the
	// link's addresses. Paths builds the transport of a path (only direct
	// paths, through Dialer, if nil); Proxy, if set, is a socks5:// or
	// http:// proxy every path goes out through; OnPath hears every change
	// of the path in use. PingInterval is how long an idle path waits
	// before a Ping (default 15s); PingTimeout, if set, replaces the
	// silence after which a path with an answer due is left (default:
	// twice the path's handshake time, between 1s and 4s; budget.go).
	// OnBook hears every change of the relays in the endpoint book: books
	// fetched, relays reported blocked, revoked, replaced (reach_report.go).
	Paths        reach.DialerFactory
	Proxy        string
	OnPath       func(PathStatus)
	OnBook       func(BookChange)
	PingInterval time.Duration
	PingTimeout  time.Duration
}

// InitOptions create an account and this device.
type InitOptions struct {
	Options
	Server ServerLink
	// Name is the name this user suggests to contacts in invite links.
	Name string
	// AccountSeed, if set, is the Ed25519 seed of an existing account: the
	// new device joins that account (every device of an account holds its
	// key in this version).
	AccountSeed []byte

	// deviceSeed, if set, is the device key to use (device_link.go: the
	// key a linking device already showed the approving device).
	deviceSeed []byte
}

// Client is one device of one account, bound to its home directory. Its
// methods are safe for concurrent use.
type Client struct {
	opts  Options
	store *localStore
	keys  *selfKeys
	mlsID *mls.Identity
	cfg   mls.Config

	mu     sync.Mutex // serializes group operations; guards groups
	groups map[wire.GroupHash]*chat

	sessMu   sync.Mutex // guards sess, sessCh
	sess     *session
	sessCh   chan struct{} // closed when a session is up
	inbox    inbox
	syncs    syncCounts    // why Sync calls returned (sync.go)
	outboxCh chan struct{} // pokes the outbox sender
	topupCh  chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	reach    *reachState // reach.go; nil for a link without a book key

	// outboxMoved is closed (and cleared) when the outbox sender takes an
	// entry out of the outbox, so that Flush returns as soon as the
	// outbox is empty instead of at its next look; made when first
	// waited on.
	outboxMu    sync.Mutex
	outboxMoved chan struct{}

	outboxState // outbox.go: failed entries, why the outbox waits; errclass.go

	// testHookCommitBuilt, if set, runs after a commit is built and before
	// it is sent (tests use it to make two commits race for one epoch).
	testHookCommitBuilt func()
	// testHookCommitStored, if set, runs after a commit is stored and
	// before it is sent; an error stops commitChange there (a crash).
	testHookCommitStored func() error
	// testHookCommitAcked, if set, runs after the server acknowledged one
	// of our commits and before it is merged; if it returns an error,
	// commitChange returns it at once, as if the process died there (tests
	// use it to prove that the pending commit is settled after a restart).
	testHookCommitAcked func() error
	// testHookSent, if set, sees every Send the server acknowledged.
	testHookSent func(*wire.Send)
	// testHookSetup, if set, runs in a reach session after the race's
	// winner is handed over and before the session is set up.
	testHookSetup func()
	// testHookDeliver, if set, runs in the inbox loop before each
	// delivered message is processed (no lock held).
	testHookDeliver func(*wire.Deliver)
	// testNoSyncOnConnect, if set, skips syncOwnDevices on connection.
	testNoSyncOnConnect bool
	// testNoMark, if set, never asks for the end-of-backlog mark: the
	// client then sees what a server before wire.md §6.6a gives it.
	testNoMark bool
	// rebases counts commits rebuilt after StaleEpoch.
	rebases atomic.Int64

	// revoked.go: set once the server answered DeviceRevoked.
	revokeOnce sync.Once
	revokedAt  atomic.Pointer[time.Time]
	revokedCh  chan struct{} // closed when revoked

	// devicelist.go: verified device lists of the accounts seen.
	lists deviceLists
}

// Init creates a new account (or joins one, see AccountSeed) in an empty
// home directory. It works offline: the device registers on its first
// connection.
func Init(o InitOptions) (*Client, error) {
	kdf := DefaultKDF
	if o.KDF != nil {
		kdf = *o.KDF
	}
	if len(o.Server.Addrs) == 0 {
		return nil, errors.New("client: init needs the server link (samizdat://server?...) that the server's operator published")
	}
	if o.Name != "" {
		if err := validName(o.Name); err != nil { // the one name rule
			return nil, err
		}
	}
	st, err := createStore(o.Home, o.Passphrase, kdf)
	if err != nil {
		return nil, err
	}
	keys := &selfKeys{DeviceSeed: make([]byte, ed25519.SeedSize), Name: o.Name, Server: o.Server, DeviceCreated: time.Now().Unix()}
	if len(o.deviceSeed) == ed25519.SeedSize {
		copy(keys.DeviceSeed, o.deviceSeed)
	} else {
		rand.Read(keys.DeviceSeed)
	}
	if o.AccountSeed != nil {
		if len(o.AccountSeed) != ed25519.SeedSize {
			st.close()
			return nil, errors.New("client: the account key must be a 32-byte Ed25519 seed")
		}
		keys.AccountSeed = append([]byte(nil), o.AccountSeed...)
	} else {
		keys.AccountSeed = make([]byte, ed25519.SeedSize)
		rand.Read(keys.AccountSeed)
	}
	t, err := st.begin(context.Background())
	if err != nil {
		st.close()
		return nil, err
	}
	t.put("self", []byte("keys"), keys)
	if err := t.commit(); err != nil {
		st.close()
		return nil, err
	}
	keys.wipe()
	st.close()
	return Open(o.Options)
}

// Open opens the account in o.Home. A wrong passphrase is ErrWrongPassphrase.
func Open(o Options) (*Client, error) {
	st, err := openStore(o.Home, o.Passphrase)
	if err != nil {
		return nil, err
	}
	t, err := st.begin(context.Background())
	if err != nil {
		st.close()
		return nil, err
	}
	keys := &selfKeys{}
	ok := t.get("self", []byte("keys"), keys)
	terr := t.err
	t.rollback()
	if terr != nil {
		st.close()
		return nil, &DamagedStoreError{Path: storePath(o.Home), Err: terr} // errclass.go
	}
	if !ok {
		st.close()
		return nil, ErrNoAccount
	}
	c := &Client{opts: o, store: st, keys: keys, groups: map[wire.GroupHash]*chat{},
		sessCh: make(chan struct{}), outboxCh: make(chan struct{}, 1), topupCh: make(chan struct{}, 1),
		revokedCh: make(chan struct{})}
	c.opts.Passphrase = nil
	if c.opts.Dialer == nil {
		c.opts.Dialer = TCPDialer
	}
	if c.opts.KeyPackageBatch <= 0 || c.opts.KeyPackageBatch > wire.MaxKeyPackages {
		c.opts.KeyPackageBatch = wire.MaxKeyPackages
	}
	if c.mlsID, err = keys.mlsIdentity(); err != nil {
		st.close()
		return nil, fmt.Errorf("client: loading device key: %w", err)
	}
	c.inbox.init()
	// Every leaf of every group is authenticated (auth.go).
	c.cfg.ValidateCredential = c.validateCredential
	if err := c.loadDeviceLists(); err != nil {
		st.close()
		return nil, err
	}
	if err := c.loadRevoked(); err != nil {
		st.close()
		return nil, err
	}
	if c.reach, err = c.loadReach(); err != nil {
		st.close()
		return nil, err
	}
	return c, nil
}

// Close stops the client's goroutines, closes the connection and the store,
// and wipes the keys it held.
func (c *Client) Close() error {
	c.sessMu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	if c.sess != nil {
		c.sess.close(errors.New("client: closed"))
	}
	c.sessMu.Unlock()
	c.inbox.close()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys.wipe()
	clear(c.mlsID.SignaturePrivateKey)
	return c.store.close()
}

// AccountKey is this user's account key.
func (c *Client) AccountKey() AccountKey { return c.keys.accountKey() }

// DeviceKey is this device's key.
func (c *Client) DeviceKey() DeviceKey { return c.keys.deviceKey() }

// Name is the name this user suggests in invites.
func (c *Client) Name() string { return c.keys.Name }

// Server is the server link of this account.
func (c *Client) Server() ServerLink { return c.keys.Server }

// Invite is this user's invite link.
func (c *Client) Invite() Invite {
	return Invite{Account: c.AccountKey(), Server: c.keys.Server, Name: c.keys.Name}
}

// AccountSeed returns a copy of the account's private seed, to set up
// another device of the same account (InitOptions.AccountSeed). Handle it
// as the most secret thing the user has.
func (c *Client) AccountSeed() []byte { return append([]byte(nil), c.keys.AccountSeed...) }

func (c *Client) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Start connects in the background and keeps the connection up (with
// backoff) until ctx ends or Close: it registers the device, keeps its
// KeyPackages topped up, processes delivered messages and sends the outbox.
//
// A device that the server reported revoked (Revoked) does not start: it
// stays offline and operations that need the server return *RevokedError.
func (c *Client) Start(ctx context.Context) {
	if c.revokedErr() != nil {
		return
	}
	c.sessMu.Lock()
	ctx, c.cancel = context.WithCancel(ctx)
	c.sessMu.Unlock()
	c.wg.Add(4)
	go func() {
		defer c.wg.Done()
		if c.reach != nil {
			c.reachLoop(ctx) // reach.go
		} else {
			c.connectLoop(ctx)
		}
	}()
	go func() { defer c.wg.Done(); c.inboxLoop(ctx) }()
	go func() { defer c.wg.Done(); c.outboxLoop(ctx) }()
	go func() { defer c.wg.Done(); c.topupLoop(ctx) }()
}

// connectLoop keeps one session up.
func (c *Client) connectLoop(ctx context.Context) {
	retry := newBackoff(30 * time.Second)
	for ctx.Err() == nil {
		s, err := c.connect(ctx)
		c.noteConnect(err) // errclass.go
		if err = c.noteRevoked(err); err != nil {
			if c.revokedErr() != nil {
				return
			}
			c.logf("client: %v (retrying in %v)", err, retry.next)
			if !retry.sleep(ctx, 0) {
				return
			}
			continue
		}
		retry.reset()
		c.sessMu.Lock()
		c.sess = s
		close(c.sessCh)
		c.sessMu.Unlock()
		c.poke(c.outboxCh)
		c.poke(c.topupCh)
		if !c.testNoSyncOnConnect {
			go c.syncOwnDevices(ctx)
		}
		select {
		case <-ctx.Done():
		case <-s.Done():
		}
		c.sessMu.Lock()
		c.sess = nil
		c.sessCh = make(chan struct{})
		c.sessMu.Unlock()
		s.close(errors.New("client: reconnecting"))
		if c.noteRevoked(s.deadErr()) != nil && c.revokedErr() != nil {
			return
		}
	}
}

// connect dials, registers the device and subscribes.
func (c *Client) connect(ctx context.Context) (*session, error) {
	dev := c.keys.device()
	defer clear(dev)
	s, err := dialSession(ctx, c.opts.Dialer, c.keys.Server, dev, &c.inbox)
	if err != nil {
		return nil, err
	}
	return s, c.setupSession(ctx, s)
}

// setupSession registers the device, tops up its KeyPackages and
// subscribes; it closes s on failure.
func (c *Client) setupSession(ctx context.Context, s *session) error {
	if err := c.registerDevice(ctx, s); err != nil {
		return err
	}
	if err := c.publishOwnDeviceList(ctx, s); err != nil {
		s.close(err)
		return c.noteRevoked(err)
	}
	if err := c.topup(ctx, s); err != nil {
		s.close(err)
		return c.noteRevoked(err)
	}
	return c.subscribe(ctx, s)
}

// registerDevice authenticates this device on s; on failure it closes s.
func (c *Client) registerDevice(ctx context.Context, s *session) error {
	acct := c.keys.account()
	reg := &wire.RegisterDevice{AccountKey: c.AccountKey(), DeviceCert: SignDevice(acct, c.DeviceKey())}
	clear(acct)
	if _, err := s.call(ctx, reg); err != nil {
		s.close(err)
		if rerr := c.noteRevoked(err); rerr != err {
			return rerr
		}
		return userError("registering this device", err)
	}
	return nil
}

// subscribe starts the mailbox's pushes on s (closing an older session of
// this device on the server) and asks for the mark at the end of the
// backlog (wire.md §6.6a), in the same flight; on failure it closes s.
func (c *Client) subscribe(ctx context.Context, s *session) error {
	sub, err := s.startCall(&wire.Subscribe{})
	var ask func(context.Context) (wire.Message, error)
	if err == nil && !c.testNoMark {
		ask, err = s.startCall(wire.AskCaughtUp())
	}
	if err == nil {
		_, err = sub(ctx)
	}
	if err == nil && ask != nil {
		_, err = ask(ctx)
	}
	if err != nil {
		s.close(err)
		if rerr := c.noteRevoked(err); rerr != err {
			return rerr
		}
		return userError("subscribing to the mailbox", err)
	}
	return nil
}

// online returns the current session, waiting for one until ctx ends.
func (c *Client) online(ctx context.Context) (*session, error) {
	for {
		c.sessMu.Lock()
		s, ch := c.sess, c.sessCh
		c.sessMu.Unlock()
		if err := c.revokedErr(); err != nil {
			return nil, err
		}
		if s != nil && s.alive() {
			return s, nil
		}
		select {
		case <-ch:
		case <-c.revokedCh:
		case <-ctx.Done():
			return nil, ErrOffline
		}
	}
}

// WaitOnline waits until the client is connected, registered and
// subscribed, or ctx ends.
func (c *Client) WaitOnline(ctx context.Context) error {
	_, err := c.online(ctx)
	return err
}

func (c *Client) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// emit hands stored messages to OnMessage.
func (c *Client) emit(ms []Message) {
	if c.opts.OnMessage == nil {
		return
	}
	for _, m := range ms {
		c.opts.OnMessage(m)
	}
}

// randomMsgID returns a fresh random MsgID.
func randomMsgID() wire.MsgID {
	var id wire.MsgID
	rand.Read(id[:])
	return id
}

// SentInfo is everything the server learns from one Send: the kind, the
// group's hash (never its id), the epoch, the recipient mailboxes (device
// ids) and the size of the ciphertext. It never sees the plaintext.
type SentInfo struct {
	Kind        wire.Kind
	Group       wire.GroupHash
	Epoch       uint64
	Recipients  []wire.DeviceID
	PayloadSize int
}
