package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

// RunChannels runs the channel conformance cases against the
// implementation made by newDB; its stores must implement
// store.ChannelStore.
func RunChannels(t *testing.T, newDB NewDB) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener, s store.ChannelStore)
	}{
		{"CreateAndFetch", testChannelCreate},
		{"AppendInOrder", testChannelAppend},
		{"ConcurrentAppendsOneWins", testChannelConcurrent},
		{"ViewsAndRevocations", testChannelViews},
		{"Durability", testChannelDurability},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			open := newDB(t)
			st, err := open()
			if err != nil {
				t.Fatal(err)
			}
			cs, ok := st.(store.ChannelStore)
			if !ok {
				st.Close()
				t.Fatalf("%T does not implement store.ChannelStore", st)
			}
			t.Cleanup(func() { st.Close() })
			c.fn(t, open, cs)
		})
	}
}

var bg = context.Background()

func testChannelCreate(t *testing.T, _ Opener, s store.ChannelStore) {
	id := store.ChannelID{1}
	if _, _, err := s.Channel(bg, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown channel: %v", err)
	}
	if err := s.CreateChannel(bg, id, []byte("desc")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChannel(bg, id, []byte("desc")); err != nil {
		t.Fatalf("same descriptor again: %v", err)
	}
	if err := s.CreateChannel(bg, id, []byte("other")); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("other descriptor: %v", err)
	}
	d, last, err := s.Channel(bg, id)
	if err != nil || string(d) != "desc" || last != 0 {
		t.Fatalf("Channel = %q, %d, %v", d, last, err)
	}
	if err := s.AppendChannelPost(bg, store.ChannelID{2}, 1, []byte("p"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("post to unknown channel: %v", err)
	}
}

func testChannelAppend(t *testing.T, _ Opener, s store.ChannelStore) {
	id := store.ChannelID{1}
	s.CreateChannel(bg, id, []byte("desc"))
	for seq := uint64(1); seq <= 5; seq++ {
		if err := s.AppendChannelPost(bg, id, seq, []byte{byte(seq)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var se *store.ChannelSeqError
	if err := s.AppendChannelPost(bg, id, 5, []byte("again"), nil); !errors.As(err, &se) || se.Last != 5 || !errors.Is(err, store.ErrChannelSeq) {
		t.Fatalf("repeated seq: %v", err)
	}
	if err := s.AppendChannelPost(bg, id, 7, []byte("gap"), nil); !errors.As(err, &se) || se.Last != 5 {
		t.Fatalf("gap: %v", err)
	}
	posts, err := s.ChannelPosts(bg, id, 2, 2)
	if err != nil || len(posts) != 2 || posts[0].Seq != 3 || posts[1].Seq != 4 || posts[0].Post[0] != 3 {
		t.Fatalf("ChannelPosts(after 2, 2) = %+v, %v", posts, err)
	}
	if _, last, _ := s.Channel(bg, id); last != 5 {
		t.Fatalf("last seq %d", last)
	}
}

func testChannelConcurrent(t *testing.T, _ Opener, s store.ChannelStore) {
	id := store.ChannelID{1}
	s.CreateChannel(bg, id, []byte("desc"))
	var mu sync.Mutex
	wins := 0
	errs := concurrently(16, func(i int) error {
		err := s.AppendChannelPost(bg, id, 1, []byte{byte(i)}, nil)
		if err == nil {
			mu.Lock()
			wins++
			mu.Unlock()
		}
		if errors.Is(err, store.ErrChannelSeq) {
			return nil // lost the race, as all but one must
		}
		return err
	})
	if len(errs) > 0 {
		t.Fatalf("concurrent posts: %v", errs)
	}
	if wins != 1 {
		t.Fatalf("%d of 16 concurrent posts for seq 1 won, want 1", wins)
	}
}

func testChannelViews(t *testing.T, _ Opener, s store.ChannelStore) {
	id := store.ChannelID{1}
	s.CreateChannel(bg, id, []byte("desc"))
	s.AppendChannelPost(bg, id, 1, []byte("a"), nil)
	s.AppendChannelPost(bg, id, 2, []byte("revoke"), make([]byte, 32))
	if err := s.AddChannelViews(bg, id, map[uint64]uint64{1: 3, 9: 4}); err != nil {
		t.Fatal(err)
	}
	s.AddChannelViews(bg, id, map[uint64]uint64{1: 2, 2: 1})
	v, err := s.ChannelViews(bg, id, []uint64{1, 2, 9})
	if err != nil || len(v) != 2 || v[1] != 5 || v[2] != 1 {
		t.Fatalf("ChannelViews = %v, %v", v, err)
	}
	r, err := s.ChannelRevocations(bg, id)
	if err != nil || len(r) != 1 || r[[32]byte{}] != 2 {
		t.Fatalf("ChannelRevocations = %v, %v", r, err)
	}
}

func testChannelDurability(t *testing.T, open Opener, s store.ChannelStore) {
	id := store.ChannelID{1}
	s.CreateChannel(bg, id, []byte("desc"))
	s.AppendChannelPost(bg, id, 1, []byte("a"), nil)
	s.AddChannelViews(bg, id, map[uint64]uint64{1: 7})
	s.(store.Store).Close()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs := st.(store.ChannelStore)
	posts, err := cs.ChannelPosts(bg, id, 0, 10)
	if err != nil || len(posts) != 1 || string(posts[0].Post) != "a" {
		t.Fatalf("after reopen: %+v, %v", posts, err)
	}
	if v, _ := cs.ChannelViews(bg, id, []uint64{1}); v[1] != 7 {
		t.Fatalf("views after reopen: %v", v)
	}
}
