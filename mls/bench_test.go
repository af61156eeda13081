package mls_test

// Benchmarks of the MLS engine through its public API, reported in
// docs/benchmarks.md: commit creation and processing against group size,
// application message protection against raw AES-128-GCM, and the size of
// a member's serialized group state.
//
// The 10,000-member groups take a while to build, so their sub-benchmarks
// run only with -long or when the -bench pattern names "10000".

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/mls"
)

var longBench = flag.Bool("long", false, "run the 10,000-member MLS benchmarks")

// benchSuites are the cipher suites compared: samizdat's default (X-Wing)
// and RFC 9420 suite 1 (X25519).
var benchSuites = []struct {
	name string
	cs   mls.CipherSuite
}{
	{"xwing", mls.DefaultCipherSuite},
	{"x25519", 1},
}

var benchSizes = []int{2, 100, 1000, 10000}

// sizeSelected reports whether the n-member sub-benchmarks run: the
// 10,000-member ones only when asked for.
func sizeSelected(n int) bool {
	if n < 10000 || *longBench {
		return true
	}
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), "10000")
}

// benchGroup is a group of n real members, as seen by two of them: the
// creator at leaf 0, who commits, and a receiver that joined through a
// Welcome and processes. The tree is populated like that of a group in
// which members have committed: every node on the creator's copath holds
// a key, set by a real commit of a member below it.
type benchGroup struct {
	n         int
	creator   *mls.Group
	receiver  *mls.Group
	buildTime time.Duration
}

var (
	benchMu     sync.Mutex
	benchGroups = map[string]*benchGroup{}
)

// newMembers makes count fresh identities and KeyPackages, on all cores.
func newMembers(tb testing.TB, cfg mls.Config, count int) ([]*mls.Identity, []*mls.KeyPackageBundle) {
	tb.Helper()
	ids := make([]*mls.Identity, count)
	kps := make([]*mls.KeyPackageBundle, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	const workers = 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += workers {
				ids[i], errs[i] = mls.NewIdentity(cfg, fmt.Appendf(nil, "member %d", i))
				if errs[i] == nil {
					kps[i], errs[i] = ids[i].NewKeyPackage(cfg, mls.KeyPackageOptions{})
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return ids, kps
}

func messages(kps []*mls.KeyPackageBundle) [][]byte {
	out := make([][]byte, len(kps))
	for i, kp := range kps {
		out[i] = kp.Message
	}
	return out
}

// getBenchGroup builds (once per process, in memory) an n-member group:
//  1. the creator adds n-1 members by value, 500 KeyPackages per commit;
//  2. one commit removes the members at leaves 1, 2, 4, ..., 2^k < n and
//     adds fresh members, who take those leaves (RFC 9420 §12.1.1) and
//     join through the Welcome;
//  3. each of them commits with a path, so that the copath node of leaf 0
//     above it holds a key; the member at the highest such leaf stays as
//     the receiver.
//
// Without step 3 the tree's parents would be blank, the resolution of
// each copath node would be all the leaves below it (RFC 9420 §4.1.1),
// and every path update would encrypt to n-1 leaves.
func getBenchGroup(tb testing.TB, cs mls.CipherSuite, n int) *benchGroup {
	tb.Helper()
	key := fmt.Sprintf("%d/%d", cs, n)
	benchMu.Lock()
	defer benchMu.Unlock()
	if g, ok := benchGroups[key]; ok {
		return g
	}
	start := time.Now()
	cfg := mls.Config{CipherSuite: cs}
	creatorID, err := mls.NewIdentity(cfg, []byte("creator"))
	if err != nil {
		tb.Fatal(err)
	}
	creator, err := mls.CreateGroup(cfg, creatorID, []byte("benchmark group"))
	if err != nil {
		tb.Fatal(err)
	}
	commit := func(opts mls.CommitOptions) *mls.CommitResult {
		tb.Helper()
		res, err := creator.Commit(opts)
		if err != nil {
			tb.Fatal(err)
		}
		if err := creator.MergePendingCommit(); err != nil {
			tb.Fatal(err)
		}
		return res
	}
	const batch = 500
	for added := 1; added < n; added += batch {
		_, kps := newMembers(tb, cfg, min(batch, n-added))
		commit(mls.CommitOptions{AddKeyPackages: messages(kps)})
	}
	var slots []uint32
	for l := uint32(1); l < uint32(n); l *= 2 {
		slots = append(slots, l)
	}
	ids, kps := newMembers(tb, cfg, len(slots))
	res := commit(mls.CommitOptions{RemoveLeaves: slots, AddKeyPackages: messages(kps), RatchetTreeInWelcome: true})
	joined := make([]*mls.Group, len(slots))
	for i := range slots {
		if joined[i], err = mls.JoinFromWelcome(cfg, ids[i], kps[i], res.Welcome, mls.JoinOptions{}); err != nil {
			tb.Fatal(err)
		}
		if got := joined[i].OwnLeafIndex(); got != slots[i] {
			tb.Fatalf("joiner %d took leaf %d, want %d", i, got, slots[i])
		}
	}
	// Highest leaf first: each commit's copath then holds the keys set by
	// the commits before it, so the build encrypts to about 2n leaves
	// rather than n per commit.
	receiver := joined[len(joined)-1]
	for i := len(joined) - 1; i >= 0; i-- {
		res, err := joined[i].Commit(mls.CommitOptions{ForcePath: true})
		if err != nil {
			tb.Fatal(err)
		}
		if err := joined[i].MergePendingCommit(); err != nil {
			tb.Fatal(err)
		}
		processors := append([]*mls.Group{creator}, joined[:i]...)
		if i != len(joined)-1 {
			processors = append(processors, receiver)
		}
		for _, g := range processors {
			if _, err := g.Process(res.Commit); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if got := len(creator.Members()); got != n {
		tb.Fatalf("group has %d members, want %d", got, n)
	}
	g := &benchGroup{n: n, creator: creator, receiver: receiver, buildTime: time.Since(start)}
	benchGroups[key] = g
	return g
}

// forEachGroup runs f as a sub-benchmark per suite and selected size.
func forEachGroup(b *testing.B, f func(b *testing.B, g *benchGroup)) {
	for _, s := range benchSuites {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("suite=%s/members=%d", s.name, n), func(b *testing.B) {
				if !sizeSelected(n) {
					b.Skip("10,000 members: run with -long or name 10000 in -bench")
				}
				g := getBenchGroup(b, s.cs, n)
				b.Logf("built the %d-member group in %v", n, g.buildTime.Round(time.Millisecond))
				b.ResetTimer()
				f(b, g)
			})
		}
	}
}

// BenchmarkCommitCreate times the creator's Commit with an UpdatePath
// (ForcePath, no proposals). Outside the timer the commit is merged and
// processed by the receiver, so every iteration starts from a real epoch.
func BenchmarkCommitCreate(b *testing.B) {
	forEachGroup(b, func(b *testing.B, g *benchGroup) {
		b.ReportAllocs()
		var size int
		for i := 0; i < b.N; i++ {
			res, err := g.creator.Commit(mls.CommitOptions{ForcePath: true})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			size = len(res.Commit)
			syncCommit(b, g, res)
			b.StartTimer()
		}
		b.ReportMetric(float64(size), "commit-B")
	})
}

// BenchmarkCommitProcess times the receiver's Process of the creator's
// commit with an UpdatePath; the commit is created outside the timer.
func BenchmarkCommitProcess(b *testing.B) {
	forEachGroup(b, func(b *testing.B, g *benchGroup) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			res, err := g.creator.Commit(mls.CommitOptions{ForcePath: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := g.creator.MergePendingCommit(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			rec, err := g.receiver.Process(res.Commit)
			if err != nil {
				b.Fatal(err)
			}
			if rec.Kind != mls.KindCommit {
				b.Fatalf("processed kind %v, want a commit", rec.Kind)
			}
		}
		b.StopTimer()
		assertSameEpoch(b, g)
	})
}

// syncCommit merges the creator's pending commit and has the receiver
// process it.
func syncCommit(b *testing.B, g *benchGroup, res *mls.CommitResult) {
	if err := g.creator.MergePendingCommit(); err != nil {
		b.Fatal(err)
	}
	if _, err := g.receiver.Process(res.Commit); err != nil {
		b.Fatal(err)
	}
	assertSameEpoch(b, g)
}

func assertSameEpoch(b *testing.B, g *benchGroup) {
	if g.creator.Epoch() != g.receiver.Epoch() || string(g.creator.EpochAuthenticator()) != string(g.receiver.EpochAuthenticator()) {
		b.Fatal("creator and receiver disagree on the epoch")
	}
}

// BenchmarkGroupState times Marshal of the receiver's whole group state
// and reports its size per member; tree-B is the public ratchet tree alone.
func BenchmarkGroupState(b *testing.B) {
	forEachGroup(b, func(b *testing.B, g *benchGroup) {
		b.ReportAllocs()
		var state []byte
		for i := 0; i < b.N; i++ {
			var err error
			if state, err = g.receiver.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		rt, err := g.receiver.RatchetTree()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(state)), "state-B")
		b.ReportMetric(float64(len(state))/float64(g.n), "state-B/member")
		b.ReportMetric(float64(len(rt)), "tree-B")
	})
}

const appMessageSize = 1024

// BenchmarkAppMessage times Encrypt of a 1 KiB application message by the
// creator of a two-member group plus its Process by the other member.
func BenchmarkAppMessage(b *testing.B) {
	for _, s := range benchSuites {
		b.Run("suite="+s.name, func(b *testing.B) {
			g := getBenchGroup(b, s.cs, 2)
			msg := make([]byte, appMessageSize)
			rand.Read(msg)
			b.SetBytes(appMessageSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ct, err := g.creator.Encrypt(msg, nil)
				if err != nil {
					b.Fatal(err)
				}
				rec, err := g.receiver.Process(ct)
				if err != nil {
					b.Fatal(err)
				}
				if len(rec.Application) != appMessageSize {
					b.Fatalf("decrypted %d bytes, want %d", len(rec.Application), appMessageSize)
				}
			}
		})
	}
}

// BenchmarkPeerAES128GCM is the peer of BenchmarkAppMessage: raw
// AES-128-GCM sealing and opening the same 1 KiB.
func BenchmarkPeerAES128GCM(b *testing.B) {
	key := make([]byte, 16)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, appMessageSize)
	rand.Read(msg)
	nonce := make([]byte, aead.NonceSize())
	var ct, pt []byte
	b.SetBytes(appMessageSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		nonce[0] = byte(i)
		ct = aead.Seal(ct[:0], nonce, msg, nil)
		if pt, err = aead.Open(pt[:0], nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPeerEd25519 signs and verifies 1 KiB with Ed25519: the part of
// BenchmarkAppMessage that an AEAD does not have (RFC 9420 §6.1).
func BenchmarkPeerEd25519(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, appMessageSize)
	rand.Read(msg)
	b.SetBytes(appMessageSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
			b.Fatal("signature does not verify")
		}
	}
}
