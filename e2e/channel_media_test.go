package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// writePhoto writes a w x h PNG of noise (it does not compress, so the
// file is about 4*w*h bytes) and returns its bytes.
func writePhoto(t *testing.T, path string, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestChannelPhotoThroughMirror is issue #16's "a channel's photo read
// from a relay mirror while the server is unreachable", with real
// processes: the owner posts a photo with 'channel post --file'; a relay
// that mirrors the channel fetches the photo's chunks from the server
// (checked against the signed post) into its state directory; the server
// is killed with SIGKILL; a follower reads the post (the file's name,
// size, type and dimensions) and downloads the photo through the mirror,
// byte-identical. The mirror's copy is ciphertext: no 64-byte piece of the
// photo is in its chunk files.
func TestChannelPhotoThroughMirror(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	owner, link := channelOwner(t, dir, srv, "photos")
	state := filepath.Join(dir, "relay-state")
	relay := mirrorRelay(t, srv.addr, state, link, freePort(t), freePort(t))
	mirrored := waitMirroring(t, relay, "photos")

	photoPath := filepath.Join(dir, "square.png")
	photo := writePhoto(t, photoPath, 800, 600) // about 1.9 MB: 8 chunks
	out := owner.run(t, "channel", "post", "photos", "--file", photoPath, "--caption", "the square at noon")
	mustContain(t, "post --file", out, `posted #1 to "photos": square.png`)

	media := filepath.Join(state, "channel-media")
	chunks := attach.ChunkCount(int64(len(photo)))
	if !e2etest.WaitFor(60*time.Second, func() bool { return len(blobChunks(t, media)) >= chunks }) {
		t.Fatalf("the mirror holds %d of the photo's %d chunks; relay stderr:\n%s", len(blobChunks(t, media)), chunks, relay.Stderr.String())
	}
	for p := range blobFiles(t, media) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+64 <= len(photo); off += 4096 {
			if bytes.Contains(b, photo[off:off+64]) {
				t.Fatalf("the mirror's chunk %s holds plaintext of the photo (offset %d)", p, off)
			}
		}
	}

	follower := channelFollower(t, dir, srv, mirrored, `following "photos": 1 posts`)

	srv.Kill()
	out, errOut, err := follower.try("channel", "read", "photos")
	if err != nil {
		t.Fatalf("reading with the server dead: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	mustContain(t, "read through the mirror", out, `[file] "square.png"`, "image/png", "800x600", "the square at noon",
		"available: samizdat channel download photos 1")
	if strings.Contains(errOut, "rejected") {
		t.Fatalf("a post was rejected:\n%s", errOut)
	}

	saveDir := filepath.Join(dir, "saved")
	out, errOut, err = follower.try("channel", "download", "photos", "1", "--dir", saveDir)
	if err != nil {
		t.Fatalf("downloading with the server dead: %v\nstdout:\n%s\nstderr:\n%s\nrelay stderr:\n%s", err, out, errOut, relay.Stderr.String())
	}
	m := regexp.MustCompile(`Saved (.+): `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("download printed no path:\n%s", out)
	}
	got, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, photo) {
		t.Fatalf("the photo read through the mirror differs: %d bytes, want %d", len(got), len(photo))
	}
	mustContain(t, "read after the download", follower.run(t, "channel", "read", "photos"), "downloaded "+m[1])
}
