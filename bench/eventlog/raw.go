package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

type baseline struct {
	name string
	run  func(ctx context.Context) throughput
}

// rawBaselines are the floors under the figures above: what the servers do
// with no event log in between, on entries of the same size.
func rawBaselines(e *env, n int) []baseline {
	key := e.prefix() + "raw-stream"
	entry := sampleEntry()
	return []baseline{
		{fmt.Sprintf("redis: XADD, pipelines of 100 (%d)", n), func(ctx context.Context) throughput {
			start := time.Now()
			for left := n; left > 0; left -= 100 {
				pipe := e.rdb.Pipeline()
				for range min(left, 100) {
					pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: entry})
				}
				if _, err := pipe.Exec(ctx); err != nil {
					fatal("raw XADD: %v", err)
				}
			}
			return throughput{n: n, elapsed: time.Since(start)}
		}},
		{fmt.Sprintf("redis: XREADGROUP COUNT 100 + XACK per batch (%d)", n), func(ctx context.Context) throughput {
			if err := e.rdb.XGroupCreate(ctx, key, "raw", "0").Err(); err != nil {
				fatal("raw XGROUP: %v", err)
			}
			start := time.Now()
			read := 0
			for read < n {
				res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "raw", Consumer: "c", Streams: []string{key, ">"}, Count: 100}).Result()
				if err != nil {
					fatal("raw XREADGROUP: %v", err)
				}
				ids := make([]string, 0, 100)
				for _, m := range res[0].Messages {
					if _, err := eventlog.DecodeEntry(m.Values); err != nil {
						fatal("raw decode: %v", err)
					}
					ids = append(ids, m.ID)
				}
				if err := e.rdb.XAck(ctx, key, "raw", ids...).Err(); err != nil {
					fatal("raw XACK: %v", err)
				}
				read += len(ids)
			}
			return throughput{n: read, elapsed: time.Since(start)}
		}},
		{"sqlite: single-row INSERT transactions (5000)", func(ctx context.Context) throughput {
			return rawInserts(ctx, e.openDB(store.SQLite), 1, 5000)
		}},
		{"postgres: single-row INSERT transactions, 1 conn (5000)", func(ctx context.Context) throughput {
			return rawInserts(ctx, e.openDB(store.Postgres), 1, 5000)
		}},
		{"postgres: single-row INSERT transactions, 8 conns (20000)", func(ctx context.Context) throughput {
			return rawInserts(ctx, e.openDB(store.Postgres), 8, 20000)
		}},
	}
}

func sampleEntry() map[string]any {
	env := eventlog.MustEnvelope(context.Background(), "tenant-bench", "", benchEvent{T: time.Now().UnixNano()})
	env.TraceParent = "00-" + strings.Repeat("a", 32) + "-" + strings.Repeat("b", 16) + "-01"
	v, err := eventlog.EntryValues(env)
	if err != nil {
		fatal("entry: %v", err)
	}
	return v
}

// rawInserts runs n single-row INSERT transactions from workers goroutines
// on a bare table (no outbox, no indexes beyond the key).
func rawInserts(ctx context.Context, db *store.DB, workers, n int) throughput {
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE raw_events (id TEXT PRIMARY KEY, data TEXT NOT NULL)`); err != nil {
		fatal("raw table: %v", err)
	}
	payload := `{"t":1700000000000000000}`
	start := time.Now()
	var wg sync.WaitGroup
	per := n / workers
	for range workers {
		wg.Go(func() {
			for range per {
				tx, err := db.SQL.BeginTx(ctx, nil)
				if err != nil {
					fatal("raw begin: %v", err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO raw_events (id, data) VALUES ($1, $2)`, eventlog.NewID(), payload); err != nil {
					fatal("raw insert: %v", err)
				}
				if err := tx.Commit(); err != nil {
					fatal("raw commit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	return throughput{n: per * workers, elapsed: time.Since(start)}
}
