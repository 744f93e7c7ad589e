// Command messaging measures the messaging context against raw baselines
// run in the same process on the same PostgreSQL:
//
//   - history-sync ingest (messages/s): session.history.sync events of 500
//     messages handed to the event consumer's Ingester, beside a raw COPY of
//     the same rows into a table with the same indexes (in one transaction,
//     and in transactions of 500 like the ingester's one per event);
//   - a re-sync of the same history (every row already stored);
//   - send accept (requests/s and latency): messaging.Service.Send (message
//     row + session.sendMessage command in one transaction, with and
//     without an Idempotency-Key), beside a raw two-row insert transaction.
//
// The history is generated chunk by chunk and only Ingester.Handle is
// timed; "peak heap" is the most heap the process had in use meanwhile,
// which stays flat however long the history (bounded memory). It creates a
// scratch database, prints the tables and drops the database.
//
//	go run ./messaging -db postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/messaging"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

const (
	tenantID  = "bench-tenant"
	sessionID = "bench-session"
	chunkSize = 500 // what the session worker puts in one history event
)

func main() {
	admin := flag.String("db", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a scratch database is created on it)")
	messages := flag.Int("messages", 100_000, "messages in the history sync")
	chats := flag.Int("chats", 200, "chats the history is spread over")
	sends := flag.Int("sends", 5_000, "send requests per send run")
	workers := flag.Int("concurrency", 8, "concurrent senders")
	flag.Parse()

	ctx := context.Background()
	dbURL, drop, err := scratchDatabase(ctx, *admin)
	if err != nil {
		log.Fatal(err)
	}
	defer drop()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	var server string
	_ = db.SQL.QueryRowContext(ctx, `SHOW server_version`).Scan(&server)
	fmt.Printf("messaging benchmark · PostgreSQL %s · %s/%s · GOMAXPROCS %d · %d CPUs\n\n",
		server, runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())

	hist := newHistory(ctx, *messages, *chats)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := messaging.NewStore(db, nil)
	ing := messaging.NewIngester(st, logger, nil)

	out := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out, "history sync\tmessages\tseconds\tmessages/s\tpeak heap MiB\t")

	ingest, peak := hist.ingest(ctx, ing)
	row(out, "ingest (Ingester, 500/event)", *messages, ingest, peak)
	resync, peak := hist.ingest(ctx, ing)
	row(out, "re-sync (all stored already)", *messages, resync, peak)

	rows := hist.rawRows()
	copyTime := timed(func() {
		if err := rawCopy(ctx, db, "bench_raw_messages", rows, len(rows)); err != nil {
			log.Fatal(err)
		}
	})
	row(out, "raw COPY, same rows and indexes", len(rows), copyTime, 0)
	chunked := timed(func() {
		if err := rawCopy(ctx, db, "bench_raw_chunks", rows, chunkSize); err != nil {
			log.Fatal(err)
		}
	})
	row(out, "raw COPY, 500 rows per transaction", len(rows), chunked, 0)
	rows = nil
	out.Flush()
	var stored int
	_ = db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM session_messages`).Scan(&stored)
	fmt.Printf("\ningest / raw COPY: %.2f · ingest / raw COPY in 500-row transactions: %.2f · rows stored: %d\n\n",
		copyTime.Seconds()/ingest.Seconds(), chunked.Seconds()/ingest.Seconds(), stored)

	svc, err := messaging.NewService(messaging.ServiceConfig{MediaDir: os.TempDir()}, st, anySession{}, logger, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(out, "send accept\trequests\tseconds\trequests/s\tp50 ms\tp99 ms\t")
	for _, run := range []struct {
		name string
		fn   func(i int) error
	}{
		{"Service.Send (row + command)", func(i int) error {
			_, _, err := svc.Send(ctx, messaging.SendInput{TenantID: tenantID, SessionID: sessionID,
				Request: messaging.SendRequest{To: "+15550001111", Text: fmt.Sprintf("hello %d", i)}})
			return err
		}},
		{"Service.Send + Idempotency-Key", func(i int) error {
			_, _, err := svc.Send(ctx, messaging.SendInput{TenantID: tenantID, SessionID: sessionID, IdempotencyKey: fmt.Sprintf("key-%d", i),
				Request: messaging.SendRequest{To: "+15550001111", Text: fmt.Sprintf("hello %d", i)}})
			return err
		}},
		{"raw two-row insert transaction", func(i int) error { return rawTwoRows(ctx, db, i) }},
	} {
		elapsed, lat := load(*sends, *workers, run.fn)
		fmt.Fprintf(out, "%s\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t\n", run.name, *sends, elapsed.Seconds(),
			float64(*sends)/elapsed.Seconds(), ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
	}
	out.Flush()
}

func row(out io.Writer, name string, n int, d time.Duration, peak uint64) {
	heap := "–"
	if peak > 0 {
		heap = fmt.Sprintf("%.1f", float64(peak)/(1<<20))
	}
	fmt.Fprintf(out, "%s\t%d\t%.2f\t%.0f\t%s\t\n", name, n, d.Seconds(), float64(n)/d.Seconds(), heap)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// timed runs fn and returns its duration.
func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// heapPeak samples the heap in use until stop is called and then returns
// its peak.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak.Load()
	}
}

// load runs n calls of fn on c goroutines; it returns the wall time and the
// sorted latencies.
func load(n, c int, fn func(i int) error) (time.Duration, []time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					log.Fatal(err)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return elapsed, lat
}

// history generates a history sync the way the session worker publishes
// it: JSON envelopes of at most 500 messages, made one at a time so the
// process never holds the whole history (the point of the measurement).
type history struct {
	ctx      context.Context
	n, chats int
	perChat  int
	base     time.Time
}

func newHistory(ctx context.Context, n, chats int) *history {
	perChat := (n + chats - 1) / chats
	return &history{ctx: ctx, n: n, chats: chats, perChat: perChat,
		base: time.Now().Add(-365 * 24 * time.Hour).UTC().Truncate(time.Millisecond)}
}

// message is the i-th message of the history.
func (h *history) message(i int) wa.Message {
	c := i / h.perChat
	jid := fmt.Sprintf("1555%07d@s.whatsapp.net", c)
	return wa.Message{
		MessageID: fmt.Sprintf("H%06d%06d", c, i%h.perChat), ChatJID: jid, SenderJID: jid, PushName: "Contact",
		FromMe: i%3 == 0, Type: wa.TypeText,
		Content:   wa.Content{Text: fmt.Sprintf("history message %d of chat %d, with some ordinary length text", i%h.perChat, c)},
		Timestamp: h.base.Add(time.Duration(i) * time.Second),
	}
}

// event builds the chunk of messages [from, from+500).
func (h *history) event(from int) eventlog.Envelope {
	var chats []wa.HistoryChat
	for i := from; i < min(from+chunkSize, h.n); i++ {
		m := h.message(i)
		if len(chats) == 0 || chats[len(chats)-1].ChatJID != m.ChatJID {
			c := i / h.perChat
			chats = append(chats, wa.HistoryChat{ChatJID: m.ChatJID, Name: fmt.Sprintf("Contact %d", c), UnreadCount: c % 3})
		}
		chats[len(chats)-1].Messages = append(chats[len(chats)-1].Messages, m)
	}
	return eventlog.MustEnvelope(h.ctx, tenantID, sessionID, wa.HistorySync{Chats: chats, Chunk: from / chunkSize})
}

// ingest hands every chunk to the ingester. Only Handle is timed (encoding
// is the producer's cost); the heap is sampled throughout.
func (h *history) ingest(ctx context.Context, ing *messaging.Ingester) (time.Duration, uint64) {
	stop := heapPeak()
	var elapsed time.Duration
	for from := 0; from < h.n; from += chunkSize {
		env := h.event(from)
		start := time.Now()
		if err := ing.Handle(ctx, env); err != nil {
			log.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	return elapsed, stop()
}

// rawRows are the history's session_messages rows with the values the
// ingester writes.
func (h *history) rawRows() [][]any {
	ns := uuid.MustParse("00000000-0000-0000-0000-00000000b001")
	now := time.Now().UnixMilli()
	rows := make([][]any, 0, h.n)
	for i := range h.n {
		m := h.message(i)
		content, _ := json.Marshal(m.Content)
		direction, status, rank := "in", "received", 0
		if m.FromMe {
			direction, status, rank = "out", "sent", 1
		}
		rows = append(rows, []any{
			uuid.NewSHA1(ns, []byte(m.ChatJID+m.MessageID)).String(), tenantID, sessionID, m.ChatJID, m.MessageID,
			direction, status, rank, string(m.Type), string(content), "", m.SenderJID, m.PushName,
			m.Timestamp.UnixMilli(), now, now,
		})
	}
	return rows
}

var rawColumns = []string{"id", "tenant_id", "session_id", "chat_jid", "message_id", "direction", "status",
	"status_rank", "type", "content", "media_key", "sender_jid", "push_name", "ts", "created_at", "updated_at"}

// rawCopy COPYs rows into a new table shaped and indexed like
// session_messages, in transactions of per rows.
func rawCopy(ctx context.Context, db *store.DB, table string, rows [][]any, per int) error {
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE `+table+` (LIKE session_messages INCLUDING ALL)`); err != nil {
		return err
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for start := 0; start < len(rows); start += per {
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, rawColumns,
				pgx.CopyFromRows(rows[start:min(start+per, len(rows))])); err != nil {
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// rawTwoRows is the least a send can do: one message row and one outbox row
// in one transaction.
func rawTwoRows(ctx context.Context, db *store.DB, i int) error {
	id := eventlog.NewID()
	now := time.Now().UnixMilli()
	return db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_messages (id, tenant_id, session_id, chat_jid, direction,
			status, type, content, ts, created_at, updated_at) VALUES ($1, $2, $3, $4, 'out', 'pending', 'text', $5, $6, $6, $6)`,
			id, tenantID, sessionID, "15550001111@s.whatsapp.net", fmt.Sprintf(`{"text":"raw %d"}`, i), now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, stream, type, tenant_id, session_id, occurred_at, data)
			VALUES ($1, 'session-commands', 'session.sendMessage', $2, $3, $4, $5)`,
			eventlog.NewID(), tenantID, sessionID, now, fmt.Sprintf(`{"id":%q,"chatJid":"15550001111@s.whatsapp.net"}`, id))
		return err
	})
}

// anySession accepts every session: the benchmark measures messaging, not
// the session lookup.
type anySession struct{}

func (anySession) Exists(context.Context, string, string) error { return nil }

// scratchDatabase creates an empty database on the server and returns its
// URL and a function dropping it.
func scratchDatabase(ctx context.Context, admin string) (string, func(), error) {
	adm, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "wagate_bench_" + hex.EncodeToString(b)
	if _, err := adm.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		adm.Close()
		return "", nil, fmt.Errorf("create scratch database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		if _, err := adm.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			log.Printf("drop %s: %v", name, err)
		}
		adm.Close()
	}, nil
}
