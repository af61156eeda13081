//go:build !js

package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/blobfs"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

// countingBlobs is the file store of the tests' server, counting the
// chunks it serves whole (GetChunk, and ReadChunk, the server's fast path).
type countingBlobs struct {
	*blobfs.Store

	mu   sync.Mutex
	gets map[[32]byte]int // GetChunks served per chunk, once countGets was called
}

// countGets starts counting the chunks served.
func (b *countingBlobs) countGets() { b.mu.Lock(); b.gets = map[[32]byte]int{}; b.mu.Unlock() }

// mostGets returns the most times one chunk was served, and all serves.
func (b *countingBlobs) mostGets() (most, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.gets {
		most, total = max(most, n), total+n
	}
	return most, total
}

func (b *countingBlobs) count(h [32]byte) {
	b.mu.Lock()
	if b.gets != nil {
		b.gets[h]++
	}
	b.mu.Unlock()
}

func (b *countingBlobs) GetChunk(ctx context.Context, h [32]byte) ([]byte, error) {
	b.count(h)
	return b.Store.GetChunk(ctx, h)
}

func (b *countingBlobs) ReadChunk(ctx context.Context, h [32]byte, buf []byte) ([]byte, error) {
	b.count(h)
	return b.Store.ReadChunk(ctx, h, buf)
}

// startFileServer is startServer with a blob store.
func startFileServer(t testing.TB) (ServerLink, *countingBlobs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := &countingBlobs{Store: bs}
	key, _ := securechan.GenerateServerKey(nil)
	srv, err := server.New(server.Config{Store: st, Key: key, Blobs: blobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return ServerLink{Key: key.Public(), Addrs: []string{ln.Addr().String()}}, blobs
}

// cutProxy forwards TCP to target and cuts every connection once it has
// carried budget bytes (both ways together): a link that drops often.
func cutProxy(t *testing.T, target string, budget int64) (addr string, cuts *atomic.Int64) {
	cuts = &atomic.Int64{}
	addr = proxyTo(t, target, func(in, out net.Conn, cut func()) {
		var used atomic.Int64
		pipe := func(dst, src net.Conn) {
			defer cut()
			buf := make([]byte, 16<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					if used.Add(int64(n)) > budget {
						cuts.Add(1)
						return
					}
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
		go pipe(in, out)
	})
	return addr, cuts
}

// proxyTo listens on loopback and, for every connection, dials target and
// hands both ends to link with cut, which closes both (once).
func proxyTo(t *testing.T, target string, link func(in, out net.Conn, cut func())) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			var once sync.Once
			link(in, out, func() { once.Do(func() { in.Close(); out.Close() }) })
		}
	}()
	return ln.Addr().String()
}

func writeRandomFile(t testing.TB, name string, n int) (string, []byte) {
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// waitFile waits until c has stored an incoming file message and returns it.
func waitFile(t testing.TB, c *Client) Message {
	t.Helper()
	return waitFiles(t, c, 1)[0]
}

func sendFile(t testing.TB, c *Client, to, path, caption string, o *FileOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.SendFile(ctx, to, path, caption, o); err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestSendFileAndDownload(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "report.pdf", 3*attach.ChunkSize+1234)
	sendFile(t, alice, "bob", path, "the report", nil)

	m := waitFile(t, bob)
	if m.Text != "the report" || m.File.Name != "report.pdf" || m.File.Size != int64(len(data)) ||
		m.File.MediaType != "application/pdf" || m.File.State != FileAvailable || m.From != "alice" {
		t.Fatalf("bob sees %+v %+v", m, m.File)
	}
	dir := t.TempDir()
	got, err := bob.Download(context.Background(), m.ID, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) || filepath.Base(got) != "report.pdf" {
		t.Fatalf("downloaded %s: %d bytes, identical=%v", got, len(b), bytes.Equal(b, data))
	}
	ms, _ := bob.Messages(context.Background(), "alice", false)
	if f := ms[len(ms)-1].File; f == nil || f.State != FileDownloaded || f.Path != got {
		t.Fatalf("after download the message shows %+v", f)
	}
	// A second download of the same message returns the same file.
	if again, err := bob.Download(context.Background(), m.ID, dir, nil); err != nil || again != got {
		t.Fatalf("second Download = %s, %v", again, err)
	}
}

// TestAdversaryAlteredChunkRefused: a server that serves altered chunks
// (its own hash check bypassed: it is the adversary) gets the download
// refused and nothing saved under the file's name.
func TestAdversaryAlteredChunkRefused(t *testing.T) {
	link, blobs := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, "photo.jpg", attach.ChunkSize+10)
	sendFile(t, alice, "bob", path, "", nil)
	m := waitFile(t, bob)
	_, _, a, err := bob.fileMessage(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	chunks := map[[32]byte][]byte{}
	for _, h := range a.Chunks {
		d, err := blobs.Store.GetChunk(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		chunks[h] = d
	}
	bob.cancel() // stop its real session; the lying server takes its place
	bob.wg.Wait()
	lyingServer(t, bob, chunks)
	dir := t.TempDir()
	_, err = bob.Download(context.Background(), m.ID, dir, nil)
	if !errors.Is(err, ErrFileAltered) {
		t.Fatalf("Download of an altered file = %v, want ErrFileAltered", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "photo.jpg")); err == nil {
		t.Fatal("an altered file was saved")
	}
}

// TestServerRefusesCorruptChunk: a chunk altered on the server's disk is
// not served (the honest server's own check); the download fails with
// NotFound and saves nothing.
func TestServerRefusesCorruptChunk(t *testing.T) {
	link, blobs := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, "photo.jpg", attach.ChunkSize+10)
	sendFile(t, alice, "bob", path, "", nil)
	m := waitFile(t, bob)
	altered := 0
	held, err := blobfs.Locate(blobs.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range held { // flip a bit in the middle of each chunk's bytes
		if err := l.FlipBit(l.Size / 2); err != nil {
			t.Fatal(err)
		}
		altered++
	}
	if altered != attach.ChunkCount(attach.ChunkSize+10) {
		t.Fatalf("altered %d chunks on the server's disk, want one per chunk", altered)
	}
	dir := t.TempDir()
	_, err = bob.Download(context.Background(), m.ID, dir, nil)
	if err == nil || !strings.Contains(err.Error(), "does not have a chunk") {
		t.Fatalf("Download of a corrupt chunk = %v, want the server's NotFound (it checks what it reads)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "photo.jpg")); err == nil {
		t.Fatal("a corrupt file was saved")
	}
}

// TestFileResumeAcrossCuts: an upload and a download over a link cut every
// 600 KB (about two chunks) or 1.5 MB complete, each chunk sent at most
// twice.
func TestFileResumeAcrossCuts(t *testing.T) {
	for _, budget := range []int64{600 << 10, 1536 << 10} {
		t.Run(strconv.FormatInt(budget>>10, 10)+"KB", func(t *testing.T) { testResumeAcrossCuts(t, budget) })
	}
}

func testResumeAcrossCuts(t *testing.T, budget int64) {
	link, _ := startFileServer(t)
	proxy, cuts := cutProxy(t, link.Addrs[0], budget)
	cutLink := ServerLink{Key: link.Key, Addrs: []string{proxy}}
	alice, bob := newUser(t, cutLink, "alice", nil), newUser(t, cutLink, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "voice.ogg", 12*attach.ChunkSize+99)
	var up Progress
	sendFile(t, alice, "bob", path, "", &FileOptions{OnProgress: func(p Progress) { up = p }})
	if up.Done != up.Total || up.MostSends > 2 {
		t.Fatalf("upload: %+v; every chunk should be sent at most twice", up)
	}
	upCuts := cuts.Load()
	m := waitFile(t, bob)
	var down Progress
	got, err := bob.Download(context.Background(), m.ID, t.TempDir(), &FileOptions{OnProgress: func(p Progress) { down = p }})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("the downloaded file differs")
	}
	if down.MostSends > 2 {
		t.Fatalf("download: %+v; every chunk should be asked for at most twice", down)
	}
	if upCuts == 0 || cuts.Load() == upCuts {
		t.Fatalf("the proxy cut %d connections during the upload and %d during the download; the test proves nothing", upCuts, cuts.Load()-upCuts)
	}
	t.Logf("upload %+v, download %+v, %d cuts", up, down, cuts.Load())
}

// lyingServer answers every GetChunk on the other end of a secure channel
// with the chunk's bytes altered: a malicious or compromised server, which
// the real server's own hash check cannot stand in for.
func lyingServer(t *testing.T, c *Client, chunks map[[32]byte][]byte) {
	t.Helper()
	ws := fakeServer(t, c, nil, func(conn *securechan.Conn) {
		for {
			b, err := conn.Recv()
			if err != nil {
				return
			}
			f, err := wire.Decode(b)
			if err != nil {
				return
			}
			var resp wire.Message = &wire.Error{Code: wire.CodeNotFound}
			if g, ok := f.Msg.(*wire.GetChunk); ok {
				if d, ok := chunks[g.Hash]; ok {
					d = bytes.Clone(d)
					d[len(d)/2] ^= 1
					resp = &wire.Chunk{Hash: g.Hash, Data: d}
				}
			}
			out, _ := wire.Encode(wire.Frame{RequestID: f.RequestID, Msg: resp})
			if conn.Send(out) != nil {
				return
			}
		}
	})
	c.sessMu.Lock()
	c.sess = &session{Session: ws}
	c.sessMu.Unlock()
}

// fakeServer opens a Session of c's device to a server of the test's own
// (serve runs its end of the secure channel, over a pipe), with onFrame
// taking the pushes; the session ends with the test.
func fakeServer(t *testing.T, c *Client, onFrame FrameHandler, serve func(*securechan.Conn)) *Session {
	t.Helper()
	key, _ := securechan.GenerateServerKey(nil)
	scs, err := securechan.NewServer(securechan.ServerConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	cc, sc := net.Pipe()
	go func() {
		if conn, err := scs.Accept(context.Background(), sc); err == nil {
			serve(conn)
		}
	}()
	dev := c.keys.device()
	defer clear(dev)
	ws, err := Handshake(context.Background(), cc, SessionConfig{ServerPublic: key.Public(), DeviceKey: dev, OnFrame: onFrame})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.End(errors.New("test over")) })
	return ws
}

// TestImageThumbnail: a photo arrives with its dimensions and a small
// thumbnail, both inside the encrypted descriptor.
func TestImageThumbnail(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	path := filepath.Join(t.TempDir(), "cat.png")
	os.WriteFile(path, b.Bytes(), 0o600)
	sendFile(t, alice, "bob", path, "look", nil)
	m := waitFile(t, bob)
	if m.File.Width != 640 || m.File.Height != 480 || !m.File.Thumbnail || m.File.MediaType != "image/png" {
		t.Fatalf("bob sees %+v", m.File)
	}
	th, err := bob.Thumbnail(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(th))
	if err != nil || format != "jpeg" || cfg.Width != 128 || cfg.Height != 96 {
		t.Fatalf("thumbnail: %s %dx%d, %v", format, cfg.Width, cfg.Height, err)
	}
}

// TestAdversaryDotfileName: a sender cannot make a download create a
// hidden file such as .profile or .bashrc (run at the next login when the
// download directory is the home directory): the saved name is visible.
func TestAdversaryDotfileName(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, ".profile", 100)
	sendFile(t, alice, "bob", path, "", nil)
	m := waitFile(t, bob)
	dir := t.TempDir()
	got, err := bob.Download(context.Background(), m.ID, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base := filepath.Base(got); base[0] == '.' {
		t.Fatalf("the download was saved as the hidden file %s", base)
	}
	if _, err := os.Stat(filepath.Join(dir, ".profile")); err == nil {
		t.Fatal(".profile was created in the download directory")
	}
}

// TestFileMessageIDLive: a file message handed to OnMessage (what listen
// prints) carries the id to download it by.
func TestFileMessageIDLive(t *testing.T) {
	link, _ := startFileServer(t)
	alice := newUser(t, link, "alice", nil)
	got := make(chan Message, 16)
	o := userOptions(t, filepath.Join(t.TempDir(), "bob"), "bob")
	o.OnMessage = func(m Message) { got <- m }
	bob, err := Init(InitOptions{Options: o, Server: link, Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, bob)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, "a.txt", 10)
	sendFile(t, alice, "bob", path, "", nil)
	for {
		select {
		case m := <-got:
			if m.Kind != MessageFile {
				continue
			}
			stored := waitFile(t, bob)
			if m.ID == 0 || m.ID != stored.ID {
				t.Fatalf("OnMessage saw file message id %d, the store has %d", m.ID, stored.ID)
			}
			return
		case <-time.After(20 * time.Second):
			t.Fatal("OnMessage never saw the file")
		}
	}
}

// TestSendFileNoBlobServer: a server without a blob store gets a clear
// error, not a hang.
func TestSendFileNoBlobServer(t *testing.T) {
	link := startServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, "x.bin", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := alice.SendFile(ctx, "bob", path, "", nil)
	if err == nil || !strings.Contains(err.Error(), "does not store files") {
		t.Fatalf("SendFile to a server without blobs = %v", err)
	}
}
