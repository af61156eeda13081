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
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// The benchmarks measure durable Enqueue throughput (one 256-byte payload to
// one recipient, every Enqueue returning only after its fsync'd commit) for
// 1, 100 and 10,000 concurrent callers, next to the raw peer: the same rows
// written by one goroutine with a prepared single-row INSERT into a plain
// table of a database with the same pragmas, committed in batches of the size
// the store can form at that concurrency. msgs/s of the two give the ratio
// docs quote: go test -run '^$' -bench . -benchtime 20000x ./store/sqlite/

const (
	benchPayload = 256
	benchDevices = 1000
)

var benchCallers = []int{1, 100, 10000}

func BenchmarkEnqueue(b *testing.B) {
	for _, callers := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
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
			b.ResetTimer()
			start := time.Now()
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
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			st := s.Stats()
			b.ReportMetric(float64(st.Requests-before.Requests)/float64(st.Batches-before.Batches), "msgs/batch")
		})
	}
}

func BenchmarkRawBatchedInsert(b *testing.B) {
	for _, callers := range benchCallers {
		batch := min(callers, 2048) // the store's default MaxBatch
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
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
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				st, err := tx.PrepareContext(ctx, `INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				for k := 0; k < batch && done < b.N; k++ {
					id := make([]byte, 16)
					rand.Read(id)
					if _, err := st.ExecContext(ctx, device, int64(done), id, group, int64(1), int64(1), payload, time.Now().Unix()); err != nil {
						b.Fatal(err)
					}
					done++
				}
				st.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
