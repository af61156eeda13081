package e2e

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/unix"

	"github.com/samizdat-project/samizdat/internal/testenv"
)

// BenchmarkFilesFloor measures a minimal program that does only the work
// per byte a samizdat transfer of a 100 MiB file must do, in two processes
// on loopback, against curl and nginx in the same run: what the 0.8 goal of
// docs/benchmarks.md "Files" asks of this machine with samizdat's protocol
// (handshake, per-chunk acknowledgements, message, local store) left out. The floor's uploader reads
// the file, seals each 256 KiB chunk (the file's AEAD), hashes it (its
// address) and seals it again for the wire (the secure channel's AEAD); its
// server opens the wire's AEAD, checks the hash, appends the chunk to one
// file, and acknowledges every chunk once, at the end, after a group-commit
// fdatasync has covered them all.
// Its download reads the chunks back (with a CRC-32C check), seals them for
// the wire; the downloader opens, checks the hash, opens the chunk, writes
// it and syncs the file. No handshake, no framing beyond a length and a
// hash, no store, no messages: only the per-byte work the design keeps.
// It runs four times per round: ChaCha20-Poly1305 for both AEADs;
// ChaCha20-Poly1305 for the file and AES-256-GCM on the wire (samizdat's
// choice on this machine since session 9); AES-256-GCM for both; and
// AES-256-GCM for both with no SHA-256 address on either side, which is
// not a design on offer but shows what content addressing costs. The
// floor's programs are this test binary (the files-floor-* helpers in
// helper_test.go), so they are separate processes, like samizdat's.
// Run: go test ./e2e -run '^$' -bench FilesFloor -benchtime=1x -v
func BenchmarkFilesFloor(b *testing.B) {
	for b.Loop() {
		filesFloor(b)
	}
}

func filesFloor(t testing.TB) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	testenv.LookPath(t, "curl", "apt-get install curl")
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	want := writeRandom(t, src, 100<<20)
	ng := startNginx(t, nginx, dir)
	defer ng.stop()
	// The file's AEAD / the wire's: samizdat's until session 9, samizdat's
	// since (docs/spec/securechan.md: AES-256-GCM records on AES hardware),
	// and AES-256-GCM for both.
	// The last leaves out the SHA-256 address on both sides: what content
	// addressing costs (not a design on offer).
	aeads := []string{"chacha20poly1305/chacha20poly1305", "chacha20poly1305/aes256gcm", "aes256gcm/aes256gcm", "aes256gcm/aes256gcm/nohash"}
	ratios := map[string][2][]float64{}
	for round := 1; round <= filesRounds; round++ {
		cUp, cDown := ng.transfer(t, src, fmt.Sprintf("big%d.bin", round), filepath.Join(dir, "curl-down.bin"), want)
		line := fmt.Sprintf("round %d: curl+nginx upload %.3fs (CPU %.2fs), download %.3fs (CPU %.2fs)",
			round, cUp.xfer.Seconds(), cUp.cpu.Seconds(), cDown.xfer.Seconds(), cDown.cpu.Seconds())
		for _, a := range aeads {
			up, down := floorTransfer(t, dir, src, a, round, want)
			r := ratios[a]
			r[0] = append(r[0], cUp.xfer.Seconds()/up.xfer.Seconds())
			r[1] = append(r[1], cDown.xfer.Seconds()/down.xfer.Seconds())
			ratios[a] = r
			line += fmt.Sprintf("; floor %s upload %.3fs (CPU %.2fs) ratio %.2f, download %.3fs (CPU %.2fs) ratio %.2f",
				a, up.xfer.Seconds(), up.cpu.Seconds(), r[0][len(r[0])-1], down.xfer.Seconds(), down.cpu.Seconds(), r[1][len(r[1])-1])
		}
		load, _ := os.ReadFile("/proc/loadavg")
		t.Logf("%s; load %s", line, strings.Join(strings.Fields(string(load))[:3], " "))
	}
	for _, a := range aeads {
		for i, dirn := range []string{"upload", "download"} {
			v := slices.Sorted(slices.Values(ratios[a][i]))
			t.Logf("floor with %s, %s: curl+nginx / floor transfer time, median %.2f, range %.2f-%.2f", a, dirn, v[len(v)/2], v[0], v[len(v)-1])
		}
	}
}

// floorTransfer runs the floor's server and uploads src to it, then
// downloads it back; each side's transfer time is what the client process
// printed, its CPU time that of both processes.
func floorTransfer(t testing.TB, dir, src, aead string, round int, want [32]byte) (up, down costs) {
	t.Helper()
	store := filepath.Join(dir, fmt.Sprintf("floor-%d-%s.pack", round, strings.ReplaceAll(aead, "/", "-"))) // kept: see filesThroughput
	serve := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=files-floor-serve", "FLOOR_AEAD="+aead, "FLOOR_STORE="+store)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("the floor server printed no address: %v", err)
		}
		return cmd, strings.TrimSpace(addr)
	}
	run := func(mode, file string) costs {
		srv, addr := serve()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=files-floor-"+mode, "FLOOR_AEAD="+aead, "FLOOR_ADDR="+addr, "FLOOR_FILE="+file)
		out, err := cmd.CombinedOutput()
		if err != nil {
			srv.Process.Kill()
			t.Fatalf("floor %s: %v\n%s", mode, err, out)
		}
		if err := srv.Wait(); err != nil {
			t.Fatalf("floor server after %s: %v", mode, err)
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatalf("floor %s printed %q, not its transfer time", mode, out)
		}
		return costs{xfer: time.Duration(secs * float64(time.Second)),
			cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() + srv.ProcessState.UserTime() + srv.ProcessState.SystemTime()}
	}
	up = run("upload", src)
	got := filepath.Join(dir, "floor-down.bin")
	down = run("download", got)
	if fileSum(t, got) != want {
		t.Fatal("the floor downloaded another file")
	}
	os.Remove(got)
	return up, down
}

// The floor's wire: a request byte ('U' upload, 'D' download), then
// records of length(4) ‖ hash(32) ‖ wire-sealed chunk, an empty record at
// the end; the server answers an upload with the count of chunks stored
// (4 bytes) once they are synced.
const floorChunk = 256 << 10

func floorAEADs() (file, wire cipher.AEAD) {
	key := make([]byte, 32)
	names := strings.Split(os.Getenv("FLOOR_AEAD"), "/")
	fileName, wireName := names[0], names[1]
	mk := func(name string) cipher.AEAD {
		if name == "aes256gcm" {
			b, _ := aes.NewCipher(key)
			a, _ := cipher.NewGCM(b)
			return a
		}
		a, _ := chacha20poly1305.New(key)
		return a
	}
	return mk(fileName), mk(wireName)
}

// floorAddress is a chunk's address, its SHA-256, or zero in the variant
// that leaves content addressing out ("/nohash" after the AEADs): what
// the design's address costs, measured, not a design on offer.
func floorAddress(chunk []byte) [32]byte {
	if strings.HasSuffix(os.Getenv("FLOOR_AEAD"), "/nohash") {
		return [32]byte{}
	}
	return sha256.Sum256(chunk)
}

func floorNonce(n *[12]byte, i uint64) []byte { binary.BigEndian.PutUint64(n[4:], i); return n[:] }

// floorServe is the floor's server: one connection, one request.
func floorServe() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_, wire := floorAEADs()
	var req [1]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return err
	}
	if req[0] == 'D' {
		return floorServeDownload(c, wire)
	}
	f, err := os.OpenFile(os.Getenv("FLOOR_STORE"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// The syncer acknowledges what each fdatasync covered.
	written := make(chan uint32, 64)
	synced := make(chan error, 1)
	go func() {
		var done uint32
		for n := range written {
			for more := true; more; { // take every write finished so far
				select {
				case m, ok := <-written:
					if !ok {
						more = false
						break
					}
					n = m
				default:
					more = false
				}
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				synced <- err
				return
			}
			done = n
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], done)
		_, err := c.Write(b[:])
		synced <- err
	}()
	r := c // read straight into the chunk's buffer: no copy
	var nonce [12]byte
	var head [36]byte
	buf := make([]byte, 0, floorChunk+64)
	var meta [40]byte // length(4) ‖ CRC-32C(4) ‖ hash(32), as a pack record's header
	for i := uint64(0); ; i++ {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n == 0 {
			break
		}
		b := buf[:n]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		chunk, err := wire.Open(b[:0], floorNonce(&nonce, i), b, nil)
		if err != nil {
			return err
		}
		if floorAddress(chunk) != [32]byte(head[4:]) {
			return errors.New("floor: a chunk does not match its hash")
		}
		binary.BigEndian.PutUint32(meta[:4], uint32(len(chunk)))
		binary.BigEndian.PutUint32(meta[4:], crc32.Checksum(chunk, crc32.MakeTable(crc32.Castagnoli)))
		copy(meta[8:], head[4:])
		if _, err := f.Write(meta[:]); err != nil {
			return err
		}
		if _, err := f.Write(chunk); err != nil {
			return err
		}
		written <- uint32(i + 1)
	}
	close(written)
	return <-synced
}

func floorServeDownload(c net.Conn, wire cipher.AEAD) error {
	f, err := os.Open(os.Getenv("FLOOR_STORE"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := c // one write per record: no copy
	tab := crc32.MakeTable(crc32.Castagnoli)
	buf := make([]byte, 36, 36+floorChunk+64)
	var meta [40]byte
	var nonce [12]byte
	for i := uint64(0); ; i++ {
		if _, err := io.ReadFull(f, meta[:]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		chunk := buf[36 : 36+binary.BigEndian.Uint32(meta[:4])]
		if _, err := io.ReadFull(f, chunk); err != nil {
			return err
		}
		if crc32.Checksum(chunk, tab) != binary.BigEndian.Uint32(meta[4:]) {
			return errors.New("floor: a stored chunk is corrupt")
		}
		copy(buf[4:36], meta[8:]) // the chunk's address, checked when it was stored
		rec := wire.Seal(buf[:36], floorNonce(&nonce, i), chunk, nil)
		binary.BigEndian.PutUint32(rec[:4], uint32(len(rec)-36))
		if _, err := w.Write(rec); err != nil {
			return err
		}
	}
	_, err = w.Write(make([]byte, 36))
	return err
}

// floorUpload sends FLOOR_FILE and prints the transfer's time: from the
// file's first byte read to the server's acknowledgement of every chunk.
func floorUpload() error {
	c, err := net.Dial("tcp", os.Getenv("FLOOR_ADDR"))
	if err != nil {
		return err
	}
	defer c.Close()
	file, wire := floorAEADs()
	start := time.Now()
	f, err := os.Open(os.Getenv("FLOOR_FILE"))
	if err != nil {
		return err
	}
	defer f.Close()
	c.Write([]byte{'U'})
	// One goroutine reads, seals and hashes chunks; this one seals them for
	// the wire and writes them, 16 chunks behind at most.
	type sealed struct {
		b    []byte
		hash [32]byte
	}
	ahead := make(chan sealed, 16)
	free := make(chan []byte, 18)
	for range 18 {
		free <- make([]byte, 36, 36+floorChunk+64)
	}
	var readErr error
	go func() {
		defer close(ahead)
		var nonce [12]byte
		for i := uint64(0); ; i++ {
			b := <-free
			plain := b[36 : 36+floorChunk]
			n, err := io.ReadFull(f, plain)
			if n == 0 {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			chunk := file.Seal(plain[:0], floorNonce(&nonce, i), plain[:n], nil)
			ahead <- sealed{b[:36+len(chunk)], floorAddress(chunk)}
		}
	}()
	var nonce [12]byte
	var i uint64
	for s := range ahead {
		rec := wire.Seal(s.b[:36], floorNonce(&nonce, i), s.b[36:], nil)
		binary.BigEndian.PutUint32(rec[:4], uint32(len(rec)-36))
		copy(rec[4:36], s.hash[:])
		if _, err := c.Write(rec); err != nil {
			return err
		}
		free <- s.b[:36]
		i++
	}
	if readErr != nil {
		return readErr
	}
	c.Write(make([]byte, 36))
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return err
	}
	if uint64(binary.BigEndian.Uint32(ack[:])) != i {
		return fmt.Errorf("floor: %d chunks acknowledged of %d", binary.BigEndian.Uint32(ack[:]), i)
	}
	fmt.Printf("%.4f\n", time.Since(start).Seconds())
	return nil
}

// floorDownload receives the stored chunks into FLOOR_FILE and prints the
// transfer's time: from the request to the file synced. This goroutine
// reads and opens the wire's AEAD; two workers check, open and write the
// chunks at their offsets, and a third asks the kernel to start writing
// the file every 2 MiB (as samizdat's download does), so that the final
// fsync finds most of it written.
func floorDownload() error {
	c, err := net.Dial("tcp", os.Getenv("FLOOR_ADDR"))
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	f, err := os.Create(os.Getenv("FLOOR_FILE"))
	if err != nil {
		return err
	}
	defer f.Close()
	c.Write([]byte{'D'})
	type opened struct {
		b    []byte
		hash [32]byte
		i    uint64
	}
	got := make(chan opened, 16)
	free := make(chan []byte, 20)
	for range 20 {
		free <- make([]byte, floorChunk+64)
	}
	kick := make(chan struct{}, 1)
	go func() {
		for range kick {
			unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		}
	}()
	defer close(kick)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file, _ := floorAEADs()
			var nonce [12]byte
			var failed error
			for o := range got {
				if failed == nil {
					failed = floorWriteChunk(f, file, &nonce, o.b, o.hash, o.i)
					if o.i%8 == 7 {
						select {
						case kick <- struct{}{}:
						default:
						}
					}
				}
				free <- o.b[:cap(o.b)]
			}
			errs <- failed
		}()
	}
	_, wire := floorAEADs()
	r := c
	var head [36]byte
	var nonce [12]byte
	var readErr error
	for i := uint64(0); ; i++ {
		if _, readErr = io.ReadFull(r, head[:]); readErr != nil {
			break
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n == 0 {
			break
		}
		b := (<-free)[:n]
		if _, readErr = io.ReadFull(r, b); readErr != nil {
			break
		}
		chunk, err := wire.Open(b[:0], floorNonce(&nonce, i), b, nil)
		if err != nil {
			readErr = err
			break
		}
		got <- opened{chunk, [32]byte(head[4:]), i}
	}
	close(got)
	wg.Wait()
	if err := errors.Join(readErr, <-errs, <-errs); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("%.4f\n", time.Since(start).Seconds())
	return nil
}

// floorWriteChunk checks chunk i against its address, opens it and writes
// it at its offset.
func floorWriteChunk(f *os.File, file cipher.AEAD, nonce *[12]byte, b []byte, hash [32]byte, i uint64) error {
	if floorAddress(b) != hash {
		return errors.New("floor: a chunk does not match its hash")
	}
	plain, err := file.Open(b[:0], floorNonce(nonce, i), b, nil)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(plain, int64(i)*floorChunk)
	return err
}
