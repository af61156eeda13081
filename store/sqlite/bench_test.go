package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// The benchmarks measure durable Enqueue throughput (one 256-byte payload to
// one recipient, every Enqueue returning only after its fsync'd commit) for
// 1, 100 and 10,000 concurrent callers, next to the raw peer (see
// BenchmarkRawBatchedInsert). msgs/s of the two give the ratio
// docs/benchmarks.md quotes:
// go test -run '^$' -bench . -benchtime 40000x -timeout 30m ./store/sqlite/

const (
	benchPayload = 256
	benchDevices = 1000
)

var benchCallers = []int{1, 100, 10000}

func BenchmarkEnqueue(b *testing.B) {
	for _, callers := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := context.Background()
			var busy atomic.Int64 // ns the writer spent inside transactions
			s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), &Options{OnBatch: func(_ int, d time.Duration) { busy.Add(int64(d)) }})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			devices := make([]store.DeviceID, benchDevices)
			for i := range devices {
				key := make([]byte, 32)
				rand.Read(key)
				devices[i] = sha256.Sum256(key)
				if err := s.PutDevice(ctx, store.Device{ID: devices[i], Account: store.AccountID(devices[i]), Key: key, Cert: key}); err != nil {
					b.Fatal(err)
				}
			}
			payload := make([]byte, benchPayload)
			rand.Read(payload)
			var group store.GroupHash
			rand.Read(group[:])
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			before := s.Stats()
			busy.Store(0)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for c := 0; c < callers; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						var id store.MsgID // random, as clients make them
						rand.Read(id[:])
						_, err := s.Enqueue(ctx, store.Send{MsgID: id, Group: group, Epoch: 1, Kind: store.KindApplication,
							Recipients: []store.DeviceID{devices[i%benchDevices]}, Payload: payload})
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			reportCPU(b, cpu0)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			st := s.Stats()
			b.ReportMetric(float64(st.Requests-before.Requests)/float64(st.Batches-before.Batches), "msgs/batch")
			b.ReportMetric(100*float64(busy.Load())/float64(elapsed), "%in-tx")
		})
	}
}

// BenchmarkRawBatchedInsert is the honest peer: the same rows (random
// msg ids, 256-byte payload) into a plain table without indexes, in a
// database with the same pragmas, one transaction per batch of the size the
// store forms at that concurrency. rows=1 is one prepared single-row INSERT
// per message (the classic loop); rows=100 or 128 packs that many rows into
// each INSERT statement, as the store's writer does. The raw database keeps
// SQLite's automatic checkpoints (a peer that never checkpoints would only
// defer that work).
func BenchmarkRawBatchedInsert(b *testing.B) {
	for _, callers := range benchCallers {
		batch := min(callers, defaultMaxBatch) // the batch the store forms at that concurrency
		variants := []int{1}
		if batch > 1 {
			variants = append(variants, min(batch, mailboxChunk))
		}
		for _, rows := range variants {
			b.Run(fmt.Sprintf("batch=%d/rows=%d", batch, rows), func(b *testing.B) { rawInsert(b, batch, rows) })
		}
	}
}

func rawInsert(b *testing.B, batch, rows int) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "raw.db"), false))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (device_id BLOB, seq INTEGER, msg_id BLOB, group_hash BLOB, epoch INTEGER, kind INTEGER, payload BLOB, enqueued_at INTEGER)`); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, benchPayload)
	rand.Read(payload)
	device, group := make([]byte, 32), make([]byte, 32)
	rand.Read(device)
	rand.Read(group)
	// One pinned connection with statements prepared once per shape, as
	// the store's writer has.
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	exec := func(q string) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	insert := func(args []any) {
		n := len(args) / 8
		st, ok := stmts[n]
		if !ok {
			st, err = conn.PrepareContext(ctx, `INSERT INTO raw VALUES `+placeholders(n, 8))
			if err != nil {
				b.Fatal(err)
			}
			stmts[n] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	args := make([]any, 0, 8*rows)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for done := 0; done < b.N; {
		exec("BEGIN IMMEDIATE")
		for k := 0; k < batch && done < b.N; k++ {
			id := make([]byte, 16)
			rand.Read(id)
			args = append(args, device, int64(done), id, group, int64(1), int64(1), payload, time.Now().Unix())
			if len(args) == 8*rows {
				insert(args)
				args = args[:0]
			}
			done++
		}
		if len(args) > 0 {
			insert(args)
			args = args[:0]
		}
		exec("COMMIT")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// cpuTime is the process's user+system CPU time so far. On a shared
// machine, CPU per message is steadier than wall-clock throughput.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(b.N), "cpu-us/msg")
}
