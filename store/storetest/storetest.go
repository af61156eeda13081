// Package storetest is the conformance suite every store.Store must pass
// (store/sqlite now, store/postgres later): mailbox ordering, exactly-once
// delivery under retries, acknowledgement, KeyPackage claims that never hand
// out a one-time package twice, the Delivery Service's one-commit-per-epoch
// rule under concurrency, durability across reopen, input limits, device
// revocation, KeyPackage counts, group info, recipient-less commits and the
// mailbox byte counts behind the server's quotas.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// Opener opens a handle on one database. Called again after the previous
// handle was closed, it must open the same data (this is how durability is
// tested).
type Opener func() (store.Store, error)

// NewDB makes a fresh, empty database for one test and returns its Opener.
// It should register cleanup of the database with t.
type NewDB func(t *testing.T) Opener

// Run runs the whole suite against the implementation made by newDB.
func Run(t *testing.T, newDB NewDB) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Devices", testDevices},
		{"KeyPackages", testKeyPackages},
		{"KeyPackagesConcurrentClaims", testConcurrentClaims},
		{"MailboxOrder", testMailboxOrder},
		{"MailboxConcurrentSenders", testConcurrentSenders},
		{"DuplicateRecipients", testDuplicateRecipients},
		{"UnknownRecipientEnqueuesNothing", testUnknownRecipient},
		{"SkipUnregistered", testSkipUnregistered},
		{"Idempotent", testIdempotent},
		{"IdempotentConcurrentRetries", testConcurrentRetries},
		{"SeenExpiry", testSeenExpiry},
		{"Ack", testAck},
		{"SeqNeverReused", testSeqNeverReused},
		{"StaleEpoch", testStaleEpoch},
		{"StaleEpochConcurrentCommits", testConcurrentCommits},
		{"DuplicateCommitAfterAdvance", testDuplicateCommit},
		{"Durability", testDurability},
		{"LargePayload", testLargePayload},
		{"BadInput", testBadInput},
		{"Watch", testWatch},
		{"ExpireMailbox", testExpireMailbox},
		{"Closed", testClosed},
		{"RevokeDevice", testRevokeDevice},
		{"CountKeyPackages", testCountKeyPackages},
		{"GroupInfo", testGroupInfo},
		{"CommitWithoutRecipients", testCommitWithoutRecipients},
		{"DeviceLists", testDeviceLists},   // devicelists.go
		{"MailboxBytes", testMailboxBytes}, // quota.go
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			open := newDB(t)
			h := &harness{t: t, open: open}
			h.reopen()
			t.Cleanup(func() {
				if h.s != nil {
					h.s.Close()
				}
			})
			c.fn(t, h)
		})
	}
}

// harness holds the store under test and helpers that fail the test on
// unexpected errors.
type harness struct {
	t    *testing.T
	open Opener
	s    store.Store
}

func (h *harness) reopen() {
	h.t.Helper()
	if h.s != nil {
		if err := h.s.Close(); err != nil {
			h.t.Fatalf("Close: %v", err)
		}
	}
	s, err := h.open()
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.s = s
}

var ctx = context.Background()

// device registers a new device of account (a fresh account if zero).
func (h *harness) device(account store.AccountID) store.Device {
	h.t.Helper()
	key := randBytes(32)
	if account == (store.AccountID{}) {
		account = store.AccountID(sha256.Sum256(randBytes(32)))
	}
	d := store.Device{ID: store.DeviceID(sha256.Sum256(key)), Account: account, Key: key, Cert: randBytes(64)}
	if err := h.s.PutDevice(ctx, d); err != nil {
		h.t.Fatalf("PutDevice: %v", err)
	}
	return d
}

func (h *harness) send(s store.Send) store.Result {
	h.t.Helper()
	res, err := h.s.Enqueue(ctx, s)
	if err != nil {
		h.t.Fatalf("Enqueue(%x): %v", s.MsgID, err)
	}
	return res
}

func (h *harness) pending(d store.DeviceID, after uint64) []store.Entry {
	h.t.Helper()
	es, err := h.s.Pending(ctx, d, after, store.MaxPendingLimit)
	if err != nil {
		h.t.Fatalf("Pending: %v", err)
	}
	return es
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newMsgID() (id store.MsgID) { rand.Read(id[:]); return id }

func newGroup() (g store.GroupHash) { rand.Read(g[:]); return g }

// app is an application message for recipients with a payload naming it.
func app(payload string, to ...store.DeviceID) store.Send {
	return store.Send{MsgID: newMsgID(), Group: newGroup(), Epoch: 1, Kind: store.KindApplication, Recipients: to, Payload: []byte(payload)}
}

func commit(g store.GroupHash, epoch uint64, to ...store.DeviceID) store.Send {
	return store.Send{MsgID: newMsgID(), Group: g, Epoch: epoch, Kind: store.KindCommit, Recipients: to, Payload: []byte(fmt.Sprintf("commit@%d", epoch))}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func waitNews(t *testing.T, ch <-chan struct{}, want bool) {
	t.Helper()
	timeout := 5 * time.Second
	if !want {
		timeout = 50 * time.Millisecond
	}
	select {
	case <-ch:
		if !want {
			t.Fatal("got news, want none")
		}
	case <-time.After(timeout):
		if want {
			t.Fatal("no news within 5s")
		}
	}
}

// concurrently runs op(0), …, op(n-1) at once, each in its own goroutine,
// and returns the errors they returned (none: nil) once all have returned:
// the races of the suite (claims, retries, commits for one epoch, posts
// for one seq). An op that counts outcomes guards them itself.
func concurrently(n int, op func(i int) error) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := op(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}
