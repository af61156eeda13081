package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/store/blobfs"
)

const chunkSize = 256 << 10 // attach.ChunkSize

// fileIDs returns the ids that `read` printed for files called name.
func fileIDs(t testing.TB, out, name string) []string {
	t.Helper()
	re := regexp.MustCompile(`\[file (\d+)\] "` + regexp.QuoteMeta(name) + `"`)
	var ids []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func writeRandom(t testing.TB, path string, n int) [32]byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// downloadFile reads as u, finds the newest file called name, downloads it
// into dir and returns the saved path.
func downloadFile(t *testing.T, u *user, chat, name, dir string) (string, string) {
	t.Helper()
	out := u.run(t, "read", chat)
	ids := fileIDs(t, out, name)
	if len(ids) == 0 {
		t.Fatalf("%s: read shows no file %q:\n%s", u.name, name, out)
	}
	id := ids[len(ids)-1]
	got := u.run(t, "download", id, "--dir", dir)
	m := regexp.MustCompile(`Saved (.+): `).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("%s: download printed no path:\n%s", u.name, got)
	}
	return m[1], got
}

// blobChunks returns where each chunk of a server's blob directory lies
// (a record in a pack file, store/blobfs).
func blobChunks(t *testing.T, dir string) map[[32]byte]blobfs.Location {
	t.Helper()
	held, err := blobfs.Locate(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[[32]byte]blobfs.Location{}
	for _, l := range held {
		out[l.Hash] = l
	}
	return out
}

// blobFiles returns the files that hold a chunk of a server's blob
// directory.
func blobFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range blobChunks(t, dir) {
		out[l.Path] = true
	}
	return out
}

// TestFiles is the attachments issue's proof with real processes: a 50 MB
// file from alice to a group with three other members arrives
// byte-identical at each; the server's blob directory holds none of its
// plaintext; a chunk altered on the server is refused; and an upload and a
// download over a link cut every 600 KB complete with every chunk sent at
// most twice.
func TestFiles(t *testing.T) {
	dir, srv := tempServer(t)
	blobDir := filepath.Join(dir, "server", "blobs")
	alice := newUser(t, dir, "alice")
	members := []*user{newUser(t, dir, "bob"), newUser(t, dir, "carol"), newUser(t, dir, "dave")}
	for _, u := range append([]*user{alice}, members...) {
		mustContain(t, u.name+" init", u.run(t, "init", "--server", srv.link, "--name", u.name), "Created your account")
		mustContain(t, u.name+" first read", u.run(t, "read"), "No new messages.")
	}
	for _, u := range members {
		befriend(t, alice, u)
	}
	mustContain(t, "group create", alice.run(t, "group", "create", "crew"), "Created group crew.")
	for _, u := range members {
		mustContain(t, "group add", alice.run(t, "group", "add", "crew", u.name), "Added "+u.name)
	}

	src := filepath.Join(dir, "leak.bin")
	const size = 50 << 20
	want := writeRandom(t, src, size)
	out := alice.run(t, "send", "crew", "--file", src, "--caption", "the documents")
	mustContain(t, "alice send --file", out, "Sent "+src+" to crew", "in 200 chunks")
	for _, u := range members {
		saved, _ := downloadFile(t, u, "crew", "leak.bin", filepath.Join(dir, u.name+"-downloads"))
		if got := fileSum(t, saved); got != want {
			t.Fatalf("%s's copy differs from alice's file", u.name)
		}
		mustContain(t, u.name+" read after download", u.run(t, "read", "crew"), "downloaded "+saved, "the documents")
	}

	t.Run("no plaintext on the server", func(t *testing.T) {
		plain, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(blobChunks(t, blobDir)); n < 200 {
			t.Fatalf("the blob directory has %d chunks, want at least 200", n)
		}
		files := blobFiles(t, blobDir)
		var windows [][]byte
		for _, off := range []int{0, 64, chunkSize - 32, chunkSize, 7 * chunkSize, size / 2, size - 64} {
			windows = append(windows, plain[off:off+64])
		}
		for p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range windows {
				if bytes.Contains(b, w) {
					t.Fatalf("%s holds 64 bytes of the file's plaintext", p)
				}
			}
		}
	})

	t.Run("altered chunk refused", func(t *testing.T) {
		before := blobChunks(t, blobDir)
		small := filepath.Join(dir, "small.bin")
		writeRandom(t, small, 3*chunkSize)
		mustContain(t, "alice send small", alice.run(t, "send", "crew", "--file", small), "Sent")
		var altered *blobfs.Location
		for h, l := range blobChunks(t, blobDir) {
			if _, ok := before[h]; !ok {
				altered = &l
				break
			}
		}
		if altered == nil {
			t.Fatal("the small file added no chunk to the blob directory")
		}
		if err := altered.FlipBit(altered.Size / 2); err != nil {
			t.Fatal(err)
		}
		bob := members[0]
		out := bob.run(t, "read", "crew")
		ids := fileIDs(t, out, "small.bin")
		if len(ids) == 0 {
			t.Fatalf("bob: read shows no small.bin:\n%s", out)
		}
		to := filepath.Join(dir, "bob-small")
		stdout, stderr, err := bob.try("download", ids[0], "--dir", to)
		if err == nil {
			t.Fatalf("bob downloaded a file with an altered chunk:\n%s", stdout)
		}
		mustContain(t, "bob download altered", stderr, "send the file again")
		if _, err := os.Stat(filepath.Join(to, "small.bin")); err == nil {
			t.Fatal("a file with an altered chunk was saved")
		}
	})

	t.Run("resume over a link cut every 600 KB", func(t *testing.T) {
		link, err := client.ParseServerLink(srv.link)
		if err != nil {
			t.Fatal(err)
		}
		proxy, cuts := cuttingProxy(t, srv.addr, 600<<10)
		frank := newUser(t, dir, "frank")
		cut := client.ServerLink{Key: link.Key, Addrs: []string{proxy}}
		mustContain(t, "frank init", frank.run(t, "init", "--server", cut.String(), "--name", "frank"), "Created your account")
		frank.run(t, "read")
		bob := members[0]
		befriend(t, frank, bob)
		src := filepath.Join(dir, "voice.ogg")
		want := writeRandom(t, src, 5<<20)
		out := frank.run(t, "send", "bob", "--file", src)
		m := regexp.MustCompile(`in (\d+) chunks \((\d+) chunk uploads, at most (\d+) of one chunk`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("frank send printed no chunk counts:\n%s", out)
		}
		chunks, sends, most := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])
		upCuts := cuts.Load()
		if most > 2 || upCuts == 0 {
			t.Fatalf("upload: %d chunk uploads for %d chunks, one chunk sent %d times, over %d cuts; want at most two per chunk and at least one cut", sends, chunks, most, upCuts)
		}
		// Frank downloads his own file back over the cut link.
		saved, dl := downloadFile(t, frank, "bob", "voice.ogg", filepath.Join(dir, "frank-downloads"))
		if fileSum(t, saved) != want {
			t.Fatal("the file downloaded over the cut link differs")
		}
		m = regexp.MustCompile(`\((\d+) chunks, (\d+) chunk requests, at most (\d+) of one chunk\)`).FindStringSubmatch(dl)
		if m == nil || atoi(t, m[3]) > 2 || cuts.Load() == upCuts {
			t.Fatalf("download over %d cuts: %s", cuts.Load()-upCuts, dl)
		}
		// Bob, on a good link, gets the same bytes.
		saved, _ = downloadFile(t, bob, "frank", "voice.ogg", filepath.Join(dir, "bob-voice"))
		if fileSum(t, saved) != want {
			t.Fatal("bob's copy differs")
		}
		t.Logf("upload: %d chunks, %d uploads; download: %s; %d cuts in all", chunks, sends, dl, cuts.Load())
	})
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cuttingProxy forwards TCP to target and cuts each connection once it has
// carried budget bytes, both ways together: a link that drops often.
func cuttingProxy(t *testing.T, target string, budget int64) (string, *atomic.Int64) {
	cuts := &atomic.Int64{}
	addr := testnet.Forward(t, testnet.Listen(t), target, func(in, out net.Conn) {
		var used atomic.Int64
		var once sync.Once
		cut := func() { once.Do(func() { in.Close(); out.Close() }) }
		pipe := func(dst, src net.Conn) {
			defer cut()
			buf := make([]byte, 16<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 && used.Add(int64(n)) > budget {
					cuts.Add(1)
					return
				}
				if n > 0 {
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}
		go pipe(out, in)
		pipe(in, out)
	})
	return addr, cuts
}
