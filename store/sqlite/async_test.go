package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

// TestEnqueueAsyncKeepsOrder queues Sends of one caller without waiting
// and checks that they were committed in queue order (the mailbox seqs
// follow it), that each wait answers its own Send, and that the errors
// come through wait.
func TestEnqueueAsyncKeepsOrder(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "async.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := store.Device{ID: store.DeviceID{1}, Key: []byte{1}, Cert: []byte{1}}
	if err := s.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	const n = 600 // several batches
	g := store.GroupHash{9}
	var waits []store.PendingSend
	for i := range n {
		snd := store.Send{Kind: store.KindApplication, Recipients: []store.DeviceID{d.ID}, Payload: binary.BigEndian.AppendUint32(nil, uint32(i))}
		binary.BigEndian.PutUint32(snd.MsgID[:], uint32(i)+1)
		if i%100 == 50 { // commits in the stream: epoch i/100 each, accepted in order
			snd.Kind, snd.Group, snd.Epoch = store.KindCommit, g, uint64(i/100)
		}
		waits = append(waits, s.EnqueueAsync(ctx, snd))
	}
	for i, p := range waits {
		res, err := p.Wait()
		if !p.Ready() {
			t.Fatalf("Send %d: answered but not Ready", i)
		}
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if i%100 == 50 && res.CurrentEpoch != uint64(i/100)+1 {
			t.Fatalf("commit %d: CurrentEpoch %d, want %d", i, res.CurrentEpoch, i/100+1)
		}
	}
	es, err := s.Pending(ctx, d.ID, 0, store.MaxPendingLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != min(n, store.MaxPendingLimit) {
		t.Fatalf("%d entries, want %d", len(es), min(n, store.MaxPendingLimit))
	}
	for k, e := range es {
		if got := binary.BigEndian.Uint32(e.Payload); got != uint32(k) {
			t.Fatalf("entry %d (seq %d) holds Send %d: committed out of queue order", k, e.Seq, got)
		}
	}

	// A stale commit, an invalid Send and a closed store answer through wait.
	stale := store.Send{MsgID: store.MsgID{0xee}, Kind: store.KindCommit, Group: g, Epoch: 0, Recipients: []store.DeviceID{d.ID}, Payload: []byte{1}}
	if _, err := s.EnqueueAsync(ctx, stale).Wait(); !errors.Is(err, store.ErrStaleEpoch) {
		t.Fatalf("stale commit: %v, want ErrStaleEpoch", err)
	}
	if _, err := s.EnqueueAsync(ctx, store.Send{Kind: store.KindApplication, Recipients: []store.DeviceID{d.ID}}).Wait(); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty payload: %v, want ErrInvalid", err)
	}
	s.Close()
	if _, err := s.EnqueueAsync(ctx, store.Send{MsgID: store.MsgID{0xef}, Kind: store.KindApplication, Recipients: []store.DeviceID{d.ID}, Payload: []byte{1}}).Wait(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
