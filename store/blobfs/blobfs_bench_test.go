package blobfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks store and read a 100 MiB file's chunks (400 of 256 KiB)
// as the server does: up to 32 PutCheckedChunks at once (server.maxPuts),
// each returning once its chunk is durable; reads one at a time, in order.
// Each round does the same with pack files (this store) and with the
// layout before them (a file per chunk: create a temporary file, write,
// fsync, set its time, rename, fsync the directory; read back checked by
// SHA-256), taking turns, and reports the medians of each: wall time and
// CPU time (user+system, getrusage) of the whole process per file.
// Run: go test ./store/blobfs -run '^$' -bench 'PutFile|ReadFile' -benchtime 5x

const benchChunks, benchChunkSize = 400, 256 << 10

// benchFile returns 400 fresh chunks and their hashes.
func benchFile(seed uint64) ([][]byte, [][32]byte) {
	data := make([]byte, benchChunkSize)
	rand.Read(data)
	chunks, hashes := make([][]byte, benchChunks), make([][32]byte, benchChunks)
	for i := range chunks {
		chunks[i] = binary.BigEndian.AppendUint64(bytesClone(data[:len(data)-8]), seed<<16+uint64(i))
		hashes[i] = sha256.Sum256(chunks[i])
	}
	return chunks, hashes
}

func bytesClone(b []byte) []byte { return append(make([]byte, 0, len(b)+8), b...) }

// cpuNow is the process's user+system CPU time.
func cpuNow(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f and returns its wall and CPU time.
func measure(tb testing.TB, f func()) (wall, cpu time.Duration) {
	c0, t0 := cpuNow(tb), time.Now()
	f()
	return time.Since(t0), cpuNow(tb) - c0
}

// putConcurrently stores every chunk with up to 32 puts at once.
func putConcurrently(tb testing.TB, chunks [][]byte, hashes [][32]byte, put func(h [32]byte, d []byte) error) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range chunks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := put(hashes[i], chunks[i]); err != nil {
				tb.Error(err)
			}
		})
	}
	wg.Wait()
}

// putChunkFile is the store's write before pack files, kept as the peer.
func putChunkFile(dir string, h [32]byte, data []byte) error {
	s := &Store{dir: dir}
	p := s.path(h)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(dir, "tmp"), "put-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	now := time.Now()
	if err == nil {
		err = os.Chtimes(f.Name(), now, now)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

type layoutFigures struct{ wall, cpu map[string][]time.Duration }

func (f *layoutFigures) add(name string, wall, cpu time.Duration) {
	f.wall[name] = append(f.wall[name], wall)
	f.cpu[name] = append(f.cpu[name], cpu)
}

func (f *layoutFigures) report(b *testing.B) {
	median := func(d []time.Duration) float64 { d = slices.Sorted(slices.Values(d)); return d[len(d)/2].Seconds() }
	for name := range f.wall {
		b.ReportMetric(median(f.wall[name]), name+"-wall-s/file")
		b.ReportMetric(median(f.cpu[name]), name+"-cpu-s/file")
	}
	b.ReportMetric(0, "ns/op") // the figures above are per file and per layout
}

func BenchmarkPutFile(b *testing.B) {
	ctx := context.Background()
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	files := b.TempDir()
	os.MkdirAll(filepath.Join(files, "tmp"), 0o700)
	figs := layoutFigures{map[string][]time.Duration{}, map[string][]time.Duration{}}
	syncs0, round, iter := syncCount.Load(), uint64(0), 0
	for b.Loop() {
		iter++ // who goes first takes turns
		for k := range 2 {
			b.StopTimer()
			round++
			chunks, hashes := benchFile(round)
			b.StartTimer()
			if (k+iter)%2 == 0 {
				wall, cpu := measure(b, func() {
					putConcurrently(b, chunks, hashes, func(h [32]byte, d []byte) error { return s.PutCheckedChunk(ctx, h, d) })
				})
				figs.add("packs", wall, cpu)
			} else {
				wall, cpu := measure(b, func() {
					putConcurrently(b, chunks, hashes, func(h [32]byte, d []byte) error { return putChunkFile(files, h, d) })
				})
				figs.add("files", wall, cpu)
			}
		}
	}
	figs.report(b)
	b.ReportMetric(float64(syncCount.Load()-syncs0)/float64(len(figs.wall["packs"])), "fdatasyncs/packfile")
}

func BenchmarkReadFile(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	chunks, hashes := benchFile(1)
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o700)
	for i := range chunks[:benchChunks/2] { // half as files of the old layout
		if err := putChunkFile(dir, hashes[i], chunks[i]); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	putConcurrently(b, chunks[benchChunks/2:], hashes[benchChunks/2:], func(h [32]byte, d []byte) error { return s.PutCheckedChunk(ctx, h, d) })
	buf := make([]byte, 0, benchChunkSize)
	figs := layoutFigures{map[string][]time.Duration{}, map[string][]time.Duration{}}
	read := func(hs [][32]byte) func() {
		return func() {
			for range 2 { // 400 chunks: the half twice
				for _, h := range hs {
					if _, err := s.ReadChunk(ctx, h, buf); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	for b.Loop() {
		wall, cpu := measure(b, read(hashes[benchChunks/2:]))
		figs.add("packs", wall, cpu)
		wall, cpu = measure(b, read(hashes[:benchChunks/2]))
		figs.add("files", wall, cpu)
	}
	figs.report(b)
}

// BenchmarkOpen measures Open of a store of 50,000 chunks of 1 KiB (the
// scan of their record headers, the files in the page cache); it reports
// the time per record.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 50_000
	chunks, hashes := make([][]byte, n), make([][32]byte, n)
	for i := range chunks {
		chunks[i], hashes[i] = chunkN(i, 1024)
	}
	putConcurrently(b, chunks, hashes, func(h [32]byte, d []byte) error { return s.PutCheckedChunk(context.Background(), h, d) })
	s.Close()
	for b.Loop() {
		s, err := Open(dir, nil)
		if err != nil || len(s.index) != n {
			b.Fatalf("Open: %v, %d chunks", err, len(s.index))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
