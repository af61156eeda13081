package adversary

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// Member is a malicious member: a device that speaks the wire protocol and
// MLS directly, with no checks of its own, so it can send what an honest
// client never would. Its MLS config has no credential validator.
type Member struct {
	t          testing.TB
	Account    ed25519.PrivateKey
	AccountKey wire.AccountKey
	Device     ed25519.PrivateKey
	DeviceKey  wire.DeviceKey
	Created    uint64
	Sess       *client.Session
	Cfg        mls.Config

	mu        sync.Mutex // guards delivered
	delivered []*wire.Deliver
}

// NewMember connects a new device of the account with accountSeed (a new
// account if nil), registers it, puts it on its account's signed device
// list (after the versions already there) and subscribes to its mailbox.
func NewMember(t testing.TB, link client.ServerLink, accountSeed []byte) *Member {
	t.Helper()
	if accountSeed == nil {
		accountSeed = make([]byte, ed25519.SeedSize)
		rand.Read(accountSeed)
	}
	devSeed := make([]byte, ed25519.SeedSize)
	rand.Read(devSeed)
	m := &Member{t: t, Account: ed25519.NewKeyFromSeed(accountSeed), Device: ed25519.NewKeyFromSeed(devSeed), Created: uint64(time.Now().Unix())}
	copy(m.AccountKey[:], m.Account.Public().(ed25519.PublicKey))
	copy(m.DeviceKey[:], m.Device.Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := net.Dial("tcp", link.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	m.Sess, err = client.Handshake(ctx, nc, client.SessionConfig{ServerPublic: link.Key, DeviceKey: m.Device, OnFrame: func(f wire.Frame) (bool, error) {
		if d, ok := f.Msg.(*wire.Deliver); ok {
			m.mu.Lock()
			m.delivered = append(m.delivered, d)
			m.mu.Unlock()
			return true, nil
		}
		return f.RequestID == 0, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Sess.End(errors.New("adversary: test over")) })
	if _, err := m.Sess.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	m.call(&wire.RegisterDevice{AccountKey: m.AccountKey, DeviceCert: client.SignDevice(m.Account, m.DeviceKey)})
	// Join the account's signed list, as a real device does.
	var devs []client.ListedDevice
	var version uint64
	if resp, err := m.Sess.Call(ctx, &wire.FetchDeviceList{AccountKey: m.AccountKey}); err == nil {
		l, err := client.ParseDeviceList(m.AccountKey, resp.(*wire.DeviceList).List)
		if err != nil {
			t.Fatal(err)
		}
		devs, version = l.Devices, l.Version
	}
	devs = append(devs, client.ListedDevice{Key: m.DeviceKey, Created: m.Created})
	m.call(&wire.PublishDeviceList{AccountKey: m.AccountKey, Version: version + 1, List: client.SignDeviceList(m.Account, version+1, devs)})
	m.call(&wire.Subscribe{})
	return m
}

func (m *Member) call(req wire.Message) wire.Message {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := m.Sess.Call(ctx, req)
	if err != nil {
		m.t.Fatalf("malicious member: %v: %v", req.Type(), err)
	}
	return resp
}

// Honest is this device's real credential, certified by its own account.
func (m *Member) Honest() []byte { return client.DeviceCredential(m.Account, m.DeviceKey, m.Created) }

// Forged is a credential that claims account victim for this device,
// "certified" with this member's own account key (the only key it has).
func (m *Member) Forged(victim wire.AccountKey) []byte {
	cred := client.DeviceCredential(m.Account, m.DeviceKey, m.Created)
	copy(cred[:32], victim[:])
	return cred
}

// Identity is an MLS identity of this device's key with any credential.
func (m *Member) Identity(credential []byte) *mls.Identity {
	id, err := mls.IdentityFromKey(mls.DefaultCipherSuite, m.Device.Seed(), credential)
	if err != nil {
		m.t.Fatal(err)
	}
	return id
}

// ClaimAll claims one KeyPackage of each device of an account.
func (m *Member) ClaimAll(acct wire.AccountKey) ([][]byte, []wire.DeviceID) {
	m.t.Helper()
	resp := m.call(&wire.ClaimKeyPackages{AccountKey: acct}).(*wire.KeyPackages)
	var kps [][]byte
	var ids []wire.DeviceID
	for _, k := range resp.KeyPackages {
		kps = append(kps, k.KeyPackage)
		ids = append(ids, k.DeviceID)
	}
	return kps, ids
}

// Send sends any payload to any mailboxes through the Delivery Service.
func (m *Member) Send(kind wire.Kind, group []byte, epoch uint64, to []wire.DeviceID, payload []byte) {
	m.t.Helper()
	s := &wire.Send{Group: sha256.Sum256(group), Epoch: epoch, Kind: kind, Recipients: to, Payload: payload}
	rand.Read(s.MsgID[:])
	m.call(s)
}

// NewGroup makes a group with identity id, adds the KeyPackages kps in
// its first commit, registers the group with the Delivery Service and
// sends the Welcome to the devices to.
func (m *Member) NewGroup(id *mls.Identity, kps [][]byte, to []wire.DeviceID) *mls.Group {
	m.t.Helper()
	g, commit, welcome := BuildGroup(m.t, id, kps)
	m.Send(wire.KindCommit, g.GroupID(), 0, nil, commit)
	m.Send(wire.KindWelcome, g.GroupID(), g.Epoch(), to, welcome)
	return g
}

// BuildGroup makes a group with identity id and kps added in its first
// commit (merged), and returns it with that commit and its Welcome.
func BuildGroup(t testing.TB, id *mls.Identity, kps [][]byte) (*mls.Group, []byte, []byte) {
	t.Helper()
	gid := make([]byte, 32)
	rand.Read(gid)
	g, err := mls.CreateGroup(mls.Config{}, id, gid)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Commit(mls.CommitOptions{AddKeyPackages: kps, RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	return g, res.Commit, res.Welcome
}

// AppMessage encrypts a samizdat application message (JSON content) in g.
func AppMessage(t testing.TB, g *mls.Group, content map[string]any) []byte {
	t.Helper()
	pt, _ := json.Marshal(content)
	ct, err := g.Encrypt(pt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// SendApp encrypts a samizdat application message (text or meta) in g
// and sends it to the devices to.
func (m *Member) SendApp(g *mls.Group, to []wire.DeviceID, content map[string]any) {
	m.t.Helper()
	m.Send(wire.KindApplication, g.GroupID(), g.Epoch(), to, AppMessage(m.t, g, content))
}

// Delivered returns what the server delivered to this device so far.
func (m *Member) Delivered() []*wire.Deliver {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*wire.Deliver(nil), m.delivered...)
}

// DeviceIDs returns the device ids of a list of device keys.
func DeviceIDs(keys ...wire.DeviceKey) []wire.DeviceID {
	out := make([]wire.DeviceID, len(keys))
	for i, k := range keys {
		out[i] = sha256.Sum256(k[:])
	}
	return out
}
