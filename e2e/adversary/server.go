package adversary

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// Server is a running malicious server: the real server.Server, whose
// store is an EvilStore the test steers.
type Server struct {
	Link  client.ServerLink
	Store *EvilStore
	// insider is the operator's own device: what the server injects goes
	// through the real Send path, so that the recipients are woken.
	insider *Member
}

// StartServer runs a malicious server on 127.0.0.1 for the test.
func StartServer(t testing.TB) *Server {
	t.Helper()
	st := sqlitetest.Open(t)
	evil := &EvilStore{real: st, lists: map[store.AccountID][]storedList{}}
	key, addr := servertest.Serve(t, server.Config{Store: evil}, func() { st.Close() })
	s := &Server{Link: client.ServerLink{Key: key, Addrs: []string{addr}}, Store: evil}
	s.insider = NewMember(t, s.Link, nil)
	return s
}

// Inject puts payload into the mailboxes of to as a fresh message, as only
// the server can. Commits are labelled as application messages so that
// the Delivery Service's epoch check does not stop the server's own
// forgery (clients must not trust the label).
func (s *Server) Inject(kind wire.Kind, group wire.GroupHash, epoch uint64, to []wire.DeviceID, payload []byte) {
	if kind == wire.KindCommit {
		kind = wire.KindApplication
	}
	s.insider.t.Helper()
	m := &wire.Send{Group: group, Epoch: epoch, Kind: kind, Recipients: to, Payload: payload}
	rand.Read(m.MsgID[:])
	s.insider.call(m)
}

// Release delivers the Sends held back by EvilStore.Withhold, in order.
func (s *Server) Release() {
	s.Store.mu.Lock()
	held := s.Store.held
	s.Store.held = nil
	s.Store.mu.Unlock()
	for _, h := range held {
		to := make([]wire.DeviceID, len(h.Recipients))
		for i, r := range h.Recipients {
			to[i] = wire.DeviceID(r)
		}
		s.Inject(wire.Kind(h.Kind), wire.GroupHash(h.Group), h.Epoch, to, h.Payload)
	}
}

type storedList struct {
	version uint64
	data    []byte
}

// EvilStore is the server's store with the operator's hands on it. It
// forwards to a real sqlite store, except where a hook says otherwise. It
// deliberately does not offer EnqueueAsync, so that every Send goes
// through Enqueue, where it is recorded (and maybe dropped or held).
type EvilStore struct {
	real *sqlite.Store

	mu sync.Mutex // guards the fields below
	// SubstituteKeyPackage, if set, answers ClaimKeyPackage for a device
	// instead of the real directory (ok false: the real one).
	SubstituteKeyPackage func(device store.DeviceID) (kp []byte, ok bool)
	// Withhold, if set, is asked about every Send before it is stored:
	// true keeps it back (not delivered, but acknowledged to the sender).
	Withhold func(s store.Send) bool
	lists    map[store.AccountID][]storedList // every version ever published
	rollback map[store.AccountID]uint64       // serve this version instead of the latest
	sent     []store.Send
	held     []store.Send
}

var (
	_ server.Store             = (*EvilStore)(nil)
	_ server.DeviceRevoker     = (*EvilStore)(nil)
	_ server.KeyPackageCounter = (*EvilStore)(nil)
	_ server.GroupInfoStore    = (*EvilStore)(nil)
	_ store.DeviceListStore    = (*EvilStore)(nil)
)

// WithholdSends sets Withhold (nil: deliver every Send again).
func (e *EvilStore) WithholdSends(f func(s store.Send) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Withhold = f
}

// SubstituteKeyPackages sets SubstituteKeyPackage.
func (e *EvilStore) SubstituteKeyPackages(f func(device store.DeviceID) (kp []byte, ok bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.SubstituteKeyPackage = f
}

// Sent returns every Send the server accepted, in order.
func (e *EvilStore) Sent() []store.Send {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]store.Send(nil), e.sent...)
}

// RollBackDeviceList makes the server answer FetchDeviceList of account
// with the given older version it once stored.
func (e *EvilStore) RollBackDeviceList(account store.AccountID, version uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rollback == nil {
		e.rollback = map[store.AccountID]uint64{}
	}
	e.rollback[account] = version
}

// DeviceListVersions lists the versions of account's list the server saw.
func (e *EvilStore) DeviceListVersions(account store.AccountID) []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []uint64
	for _, l := range e.lists[account] {
		out = append(out, l.version)
	}
	return out
}

func (e *EvilStore) PutDevice(ctx context.Context, d store.Device) error {
	return e.real.PutDevice(ctx, d)
}
func (e *EvilStore) Device(ctx context.Context, id store.DeviceID) (store.Device, error) {
	return e.real.Device(ctx, id)
}
func (e *EvilStore) DevicesOf(ctx context.Context, a store.AccountID) ([]store.Device, error) {
	return e.real.DevicesOf(ctx, a)
}
func (e *EvilStore) AddKeyPackages(ctx context.Context, d store.DeviceID, oneTime [][]byte, lastResort []byte) error {
	return e.real.AddKeyPackages(ctx, d, oneTime, lastResort)
}
func (e *EvilStore) ClaimKeyPackage(ctx context.Context, d store.DeviceID) (store.KeyPackage, error) {
	e.mu.Lock()
	sub := e.SubstituteKeyPackage
	e.mu.Unlock()
	if sub != nil {
		if kp, ok := sub(d); ok {
			return store.KeyPackage{Data: kp}, nil
		}
	}
	return e.real.ClaimKeyPackage(ctx, d)
}
func (e *EvilStore) CountKeyPackages(ctx context.Context, d store.DeviceID) (int, bool, error) {
	return e.real.CountKeyPackages(ctx, d)
}
func (e *EvilStore) Enqueue(ctx context.Context, s store.Send) (store.Result, error) {
	e.mu.Lock()
	withhold := e.Withhold != nil && e.Withhold(s)
	e.mu.Unlock()
	if withhold {
		// A withheld commit still moves the Delivery Service on (its
		// sender sees it accepted); nobody gets it until Release.
		var res store.Result
		if s.Kind == store.KindCommit {
			cp := s
			cp.Recipients = nil
			var err error
			if res, err = e.real.Enqueue(ctx, cp); err != nil {
				return res, err
			}
		}
		e.mu.Lock()
		e.held = append(e.held, s)
		e.mu.Unlock()
		return res, nil
	}
	res, err := e.real.Enqueue(ctx, s)
	if err == nil {
		e.mu.Lock()
		e.sent = append(e.sent, s)
		e.mu.Unlock()
	}
	return res, err
}
func (e *EvilStore) Pending(ctx context.Context, d store.DeviceID, after uint64, limit int) ([]store.Entry, error) {
	return e.real.Pending(ctx, d, after, limit)
}
func (e *EvilStore) Ack(ctx context.Context, d store.DeviceID, upTo uint64) error {
	return e.real.Ack(ctx, d, upTo)
}
func (e *EvilStore) Watch(d store.DeviceID) (<-chan struct{}, func()) { return e.real.Watch(d) }
func (e *EvilStore) GroupEpoch(ctx context.Context, g store.GroupHash) (uint64, error) {
	return e.real.GroupEpoch(ctx, g)
}
func (e *EvilStore) ExpireSeen(ctx context.Context, before time.Time) (int64, error) {
	return e.real.ExpireSeen(ctx, before)
}
func (e *EvilStore) ExpireMailbox(ctx context.Context, before time.Time) (int64, error) {
	return e.real.ExpireMailbox(ctx, before)
}
func (e *EvilStore) RevokeDevice(ctx context.Context, id store.DeviceID) error {
	return e.real.RevokeDevice(ctx, id)
}
func (e *EvilStore) DeviceRevoked(ctx context.Context, id store.DeviceID) (bool, error) {
	return e.real.DeviceRevoked(ctx, id)
}
func (e *EvilStore) PutGroupInfo(ctx context.Context, g store.GroupHash, epoch uint64, info []byte) error {
	return e.real.PutGroupInfo(ctx, g, epoch, info)
}
func (e *EvilStore) GroupInfo(ctx context.Context, g store.GroupHash) (uint64, []byte, error) {
	return e.real.GroupInfo(ctx, g)
}
func (e *EvilStore) PutDeviceList(ctx context.Context, a store.AccountID, v uint64, list []byte) error {
	if err := e.real.PutDeviceList(ctx, a, v, list); err != nil {
		return err
	}
	e.mu.Lock()
	e.lists[a] = append(e.lists[a], storedList{v, append([]byte(nil), list...)})
	e.mu.Unlock()
	return nil
}
func (e *EvilStore) DeviceList(ctx context.Context, a store.AccountID) (uint64, []byte, error) {
	e.mu.Lock()
	if v, ok := e.rollback[a]; ok {
		for _, l := range e.lists[a] {
			if l.version == v {
				e.mu.Unlock()
				return l.version, l.data, nil
			}
		}
	}
	e.mu.Unlock()
	return e.real.DeviceList(ctx, a)
}
