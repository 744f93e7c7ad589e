package eventlog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// The contract every event-log backend passes. Each subtest gets a fresh
// bundle (database, Redis prefix, metrics) from its backend.

type backend struct {
	name  string
	redis bool
	db    store.Dialect
}

var backends = []backend{
	{name: "EmbeddedSQLite", db: store.SQLite},
	{name: "EmbeddedPostgres", db: store.Postgres},
	{name: "RedisPostgres", db: store.Postgres, redis: true},
}

type bundle struct {
	backend
	db      *store.DB
	rdb     *redis.Client
	prefix  string
	metrics *observe.Metrics
}

type setupOpt int

const withoutDispatcher setupOpt = 1

func setup(t *testing.T, b backend, opts ...setupOpt) *bundle {
	t.Helper()
	bu := &bundle{backend: b, db: testenv.OpenDB(t, b.db), metrics: observe.NewMetrics()}
	if b.redis {
		bu.rdb, bu.prefix = testenv.Redis(t)
		dispatch := true
		for _, o := range opts {
			dispatch = dispatch && o != withoutDispatcher
		}
		if dispatch {
			bu.startDispatcher(t)
		}
	}
	return bu
}

func (b *bundle) config() eventlog.Config {
	cfg := eventlogtest.Config()
	cfg.Prefix = b.prefix
	// Short enough for the takeover tests, long enough that a busy CI
	// machine's scheduling pauses do not look like dead consumers (which
	// would turn "exactly once in normal operation" into a flake).
	cfg.ClaimIdle = 2 * time.Second
	return cfg
}

func (b *bundle) runner(t *testing.T, cfg eventlog.Config) eventlog.Runner {
	t.Helper()
	var r eventlog.Runner
	var err error
	if b.redis {
		r, err = eventlog.NewRedisLog(b.db, b.rdb, cfg, nil, b.metrics)
	} else {
		r, err = eventlog.NewEmbeddedLog(b.db, cfg, nil, b.metrics)
	}
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	return r
}

// start runs subs on a new runner with the bundle's config until the test ends.
func (b *bundle) start(t *testing.T, subs ...eventlog.Subscription) {
	t.Helper()
	eventlogtest.Start(t, b.runner(t, b.config()), subs...)
}

func (b *bundle) startDispatcher(t *testing.T) {
	t.Helper()
	d, err := eventlog.NewDispatcher(b.db, b.rdb, b.config(), nil, b.metrics)
	if err != nil {
		t.Fatalf("new dispatcher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

type testEvent struct {
	N int `json:"n"`
}

func (testEvent) EventType() string { return "test.happened" }

type otherEvent struct{}

func (otherEvent) EventType() string { return "other.happened" }

// appendN commits n events in one transaction and returns their ids.
func appendN(t *testing.T, db *store.DB, n int) []string {
	t.Helper()
	ids, err := tryAppendN(db, n)
	if err != nil {
		t.Fatalf("append %d events: %v", n, err)
	}
	return ids
}

// tryAppendN is appendN for goroutines other than the test's.
func tryAppendN(db *store.DB, n int) ([]string, error) {
	var ids []string
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		ids = ids[:0]
		for i := range n {
			env := eventlog.MustEnvelope(context.Background(), "tenant-1", "session-1", testEvent{N: i})
			if err := eventlog.Append(context.Background(), tx, eventlog.DomainEvents, env); err != nil {
				return err
			}
			ids = append(ids, env.ID)
		}
		return nil
	})
	return ids, err
}

// recorder counts deliveries per event id.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (r *recorder) record(id string) {
	r.mu.Lock()
	r.seen[id]++
	r.mu.Unlock()
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) handler() eventlog.Handler {
	return func(ctx context.Context, env eventlog.Envelope) error { r.record(env.ID); return nil }
}

func (r *recorder) waitAll(t *testing.T, ids []string) {
	t.Helper()
	eventlogtest.Eventually(t, 20*time.Second, func() bool {
		for _, id := range ids {
			if r.count(id) == 0 {
				return false
			}
		}
		return true
	}, "all %d events delivered", len(ids))
}

func sub(name string, h eventlog.Handler) eventlog.Subscription {
	return eventlog.Subscription{Name: name, Stream: eventlog.DomainEvents, Handler: h}
}

// effects is a table a handler writes once per event through MarkProcessed;
// it has no key, so a second effect would show up as a second row.
func createEffects(t *testing.T, db *store.DB) {
	t.Helper()
	if _, err := db.SQL.Exec(`CREATE TABLE test_effects (event_id TEXT NOT NULL)`); err != nil {
		t.Fatalf("create test_effects: %v", err)
	}
}

func applyEffect(ctx context.Context, db *store.DB, subscriber string, env eventlog.Envelope) error {
	_, err := applyEffectOnce(ctx, db, subscriber, env)
	return err
}

// applyEffectOnce reports whether this call applied the effect (false for
// a redelivery).
func applyEffectOnce(ctx context.Context, db *store.DB, subscriber string, env eventlog.Envelope) (bool, error) {
	var applied bool
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		fresh, err := eventlog.MarkProcessed(ctx, tx, subscriber, env.ID)
		applied = fresh
		if err != nil || !fresh {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO test_effects (event_id) VALUES ($1)`, env.ID)
		return err
	})
	return applied && err == nil, err
}

func countEffects(t *testing.T, db *store.DB) (total, distinct int) {
	t.Helper()
	if err := db.SQL.QueryRow(`SELECT count(*), count(DISTINCT event_id) FROM test_effects`).Scan(&total, &distinct); err != nil {
		t.Fatalf("count effects: %v", err)
	}
	return total, distinct
}

func waitDeadLetters(t *testing.T, b *bundle, n int) []eventlog.DeadLetter {
	t.Helper()
	dls := eventlog.NewDeadLetters(b.db, b.rdb, b.prefix)
	var list []eventlog.DeadLetter
	eventlogtest.Eventually(t, 20*time.Second, func() bool {
		var err error
		list, err = dls.List(context.Background())
		if err != nil {
			t.Fatalf("list dead letters: %v", err)
		}
		return len(list) >= n
	}, "%d dead letters", n)
	return list
}

func TestContract(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testContract(t, b)
		})
	}
}

func testContract(t *testing.T, b backend) {
	t.Run("RolledBackAppendIsNeverDelivered", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		rec := newRecorder()
		bu.start(t, sub("test.rollback", rec.handler()))
		var rolledBack string
		errRollback := errors.New("rollback")
		err := bu.db.InTx(context.Background(), func(tx *sql.Tx) error {
			env := eventlog.MustEnvelope(context.Background(), "tenant-1", "", testEvent{})
			rolledBack = env.ID
			if err := eventlog.Append(context.Background(), tx, eventlog.DomainEvents, env); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("transaction: %v", err)
		}
		// Events committed after the rolled-back one are delivered, so the
		// consumer has read past where it would have been.
		later := appendN(t, bu.db, 3)
		rec.waitAll(t, later)
		if n := rec.count(rolledBack); n != 0 {
			t.Fatalf("rolled-back event delivered %d times", n)
		}
	})

	t.Run("EveryGroupGetsEveryEvent", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
		before := appendN(t, bu.db, 20) // committed before the groups exist
		bu.start(t, sub("test.a", recs[0].handler()), sub("test.b", recs[1].handler()))
		bu.start(t, sub("test.c", recs[2].handler())) // another process
		after := appendN(t, bu.db, 30)
		for _, r := range recs {
			r.waitAll(t, append(before, after...))
		}
	})

	t.Run("TypeFilterSkipsOtherEvents", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		rec := newRecorder()
		s := sub("test.filtered", rec.handler())
		s.Types = []string{"test.*"}
		bu.start(t, s)
		var other string
		if err := bu.db.InTx(context.Background(), func(tx *sql.Tx) error {
			env := eventlog.MustEnvelope(context.Background(), "tenant-1", "", otherEvent{})
			other = env.ID
			return eventlog.Append(context.Background(), tx, eventlog.DomainEvents, env)
		}); err != nil {
			t.Fatal(err)
		}
		wanted := appendN(t, bu.db, 2)
		rec.waitAll(t, wanted)
		if rec.count(other) != 0 {
			t.Fatal("event of an unsubscribed type was delivered")
		}
	})

	t.Run("FailTwiceThenSucceedHasOneEffect", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		createEffects(t, bu.db)
		var attempts atomic.Int32
		bu.start(t, sub("test.flaky", func(ctx context.Context, env eventlog.Envelope) error {
			switch attempts.Add(1) {
			case 1: // the effect commits, then the handler fails anyway
				if err := applyEffect(ctx, bu.db, "test.flaky", env); err != nil {
					return err
				}
				return errors.New("failed after commit")
			case 2:
				return errors.New("failed before commit")
			default:
				return applyEffect(ctx, bu.db, "test.flaky", env)
			}
		}))
		appendN(t, bu.db, 1)
		eventlogtest.Eventually(t, 10*time.Second, func() bool { return attempts.Load() >= 3 }, "third attempt")
		eventlogtest.Eventually(t, 5*time.Second, func() bool {
			return metricValue(t, bu, "wagate_eventlog_processed_total", "test.flaky") == 1
		}, "processed metric")
		if total, _ := countEffects(t, bu.db); total != 1 {
			t.Fatalf("effect applied %d times, want 1", total)
		}
		if got := attempts.Load(); got != 3 {
			t.Fatalf("handler called %d times, want 3", got)
		}
	})

	t.Run("AlwaysFailingHandlerIsDeadLetteredWithReason", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		var calls atomic.Int32
		bu.start(t, sub("test.broken", func(ctx context.Context, env eventlog.Envelope) error {
			calls.Add(1)
			return fmt.Errorf("template %q missing", "welcome")
		}))
		ids := appendN(t, bu.db, 1)
		list := waitDeadLetters(t, bu, 1)
		dl := list[0]
		if dl.Subscriber != "test.broken" || dl.Envelope.ID != ids[0] || dl.Envelope.Type != "test.happened" {
			t.Fatalf("dead letter = %+v", dl)
		}
		if !strings.Contains(dl.Error, `template "welcome" missing`) {
			t.Fatalf("dead letter error = %q", dl.Error)
		}
		if dl.Attempts != bu.config().MaxAttempts || int(calls.Load()) != bu.config().MaxAttempts {
			t.Fatalf("attempts recorded %d, calls %d, want %d", dl.Attempts, calls.Load(), bu.config().MaxAttempts)
		}
		wantSource := "table"
		if b.redis {
			wantSource = "stream"
		}
		if dl.Source != wantSource {
			t.Fatalf("dead letter source %q, want %q", dl.Source, wantSource)
		}
		eventlogtest.Eventually(t, 5*time.Second, func() bool {
			return metricValue(t, bu, "wagate_eventlog_dead_lettered_total", "test.broken") == 1
		}, "dead-lettered metric")
	})

	t.Run("UnavailableDLQStreamFallsBackToTable", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		if b.redis {
			// A string under the DLQ key makes every XADD to it fail.
			if err := bu.rdb.Set(context.Background(), eventlog.StreamKey(bu.prefix, eventlog.DeadLetterQueue), "broken", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		bu.start(t, sub("test.broken", func(ctx context.Context, env eventlog.Envelope) error {
			return errors.New("smtp down")
		}))
		ids := appendN(t, bu.db, 1)
		eventlogtest.Eventually(t, 20*time.Second, func() bool {
			var n int
			err := bu.db.SQL.QueryRow(`SELECT count(*) FROM dead_letters WHERE subscriber = 'test.broken'
				AND event_id = $1 AND error = 'smtp down'`, ids[0]).Scan(&n)
			return err == nil && n == 1
		}, "dead letter in the dead_letters table")
	})

	t.Run("ReplayRedeliversToTheOriginalSubscriber", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		var fixed atomic.Bool
		recA, recB := newRecorder(), newRecorder()
		bu.start(t, sub("test.fixable", func(ctx context.Context, env eventlog.Envelope) error {
			if !fixed.Load() {
				return errors.New("not yet")
			}
			recA.record(env.ID)
			return nil
		}), sub("test.bystander", recB.handler()))
		ids := appendN(t, bu.db, 2)
		list := waitDeadLetters(t, bu, 2)
		recB.waitAll(t, ids)
		fixed.Store(true)
		dls := eventlog.NewDeadLetters(bu.db, bu.rdb, bu.prefix)
		if err := dls.Replay(context.Background(), list[0].ID); err != nil {
			t.Fatalf("replay %s: %v", list[0].ID, err)
		}
		recA.waitAll(t, []string{list[0].Envelope.ID})
		eventlogtest.Eventually(t, 5*time.Second, func() bool {
			left, err := dls.List(context.Background())
			return err == nil && len(left) == 1
		}, "first replay recorded")
		if n, err := dls.ReplayAll(context.Background()); err != nil || n != 1 {
			t.Fatalf("replay all = %d, %v; want 1", n, err)
		}
		recA.waitAll(t, ids)
		eventlogtest.Eventually(t, 5*time.Second, func() bool {
			left, err := dls.List(context.Background())
			return err == nil && len(left) == 0
		}, "no dead letters left after replay")
		for _, id := range ids {
			if recB.count(id) != 1 {
				t.Fatalf("replay reached another subscriber: %d deliveries", recB.count(id))
			}
		}
		if err := dls.Replay(context.Background(), "no-such-id"); !errors.Is(err, eventlog.ErrDeadLetterNotFound) {
			t.Fatalf("replay of an unknown id: %v", err)
		}
	})

	t.Run("EntryOfAKilledConsumerIsHandledByAnother", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		started := make(chan string, 1)
		unblock := make(chan struct{})
		// Consumer A takes the entry and hangs; then its process "dies": the
		// runner's context ends (heartbeats stop) but the handler never
		// returns, so nothing is acknowledged or released.
		cfgA := bu.config()
		cfgA.ConsumerName = "consumer-a"
		runnerA := bu.runner(t, cfgA)
		ctxA, killA := context.WithCancel(context.Background())
		doneA := make(chan struct{})
		go func() {
			defer close(doneA)
			_ = runnerA.Run(ctxA, sub("test.reclaim", func(ctx context.Context, env eventlog.Envelope) error {
				started <- env.ID
				<-unblock
				return nil
			}))
		}()
		t.Cleanup(func() { close(unblock); killA(); <-doneA })
		ids := appendN(t, bu.db, 1)
		select {
		case id := <-started:
			if id != ids[0] {
				t.Fatalf("consumer A got %s, want %s", id, ids[0])
			}
		case <-time.After(10 * time.Second):
			t.Fatal("consumer A never got the entry")
		}
		killA()

		rec := newRecorder()
		cfgB := bu.config()
		cfgB.ConsumerName = "consumer-b"
		eventlogtest.Start(t, bu.runner(t, cfgB), sub("test.reclaim", rec.handler()))
		rec.waitAll(t, ids)
	})

	t.Run("TwoConsumersOfOneGroupHandleEachEventOnce", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		rec := newRecorder()
		for _, name := range []string{"consumer-1", "consumer-2"} {
			cfg := bu.config()
			cfg.ConsumerName = name
			cfg.BatchSize = 10
			eventlogtest.Start(t, bu.runner(t, cfg), sub("test.shared", rec.handler()))
		}
		var ids []string
		for range 10 {
			ids = append(ids, appendN(t, bu.db, 20)...)
		}
		rec.waitAll(t, ids)
		for _, id := range ids {
			if n := rec.count(id); n != 1 {
				t.Fatalf("event %s handled %d times in normal operation", id, n)
			}
		}
	})

	t.Run("CursorNeverSkipsALateCommit", func(t *testing.T) {
		t.Parallel()
		bu := setup(t, b)
		rec := newRecorder()
		bu.start(t, sub("test.late", rec.handler()))
		// The early transaction appends first and commits last.
		early, err := bu.db.SQL.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer early.Rollback()
		lateEnv := eventlog.MustEnvelope(context.Background(), "tenant-1", "", testEvent{N: 1})
		if err := eventlog.Append(context.Background(), early, eventlog.DomainEvents, lateEnv); err != nil {
			t.Fatal(err)
		}
		committed := make(chan []string, 1)
		go func() { // waits for the write lock on SQLite
			ids, err := tryAppendN(bu.db, 1)
			if err != nil {
				t.Errorf("append: %v", err)
			}
			committed <- ids
		}()
		select {
		case <-committed:
		case <-time.After(300 * time.Millisecond):
		}
		time.Sleep(100 * time.Millisecond) // give a wrong cursor the chance to move past
		if err := early.Commit(); err != nil {
			t.Fatal(err)
		}
		rec.waitAll(t, []string{lateEnv.ID})
	})

	t.Run("TenThousandEventsWithTransientFailuresEachEffectOnce", func(t *testing.T) {
		t.Parallel()
		if testing.Short() {
			t.Skip("10,000 events")
		}
		bu := setup(t, b)
		createEffects(t, bu.db)
		var failures, handled atomic.Int64
		handler := func(ctx context.Context, env eventlog.Envelope) error {
			if rand.N(10) == 0 {
				failures.Add(1)
				return errors.New("transient")
			}
			applied, err := applyEffectOnce(ctx, bu.db, "test.bulk", env)
			if applied {
				handled.Add(1) // redeliveries (a lease taken over under load) do not count
			}
			return err
		}
		for _, name := range []string{"bulk-1", "bulk-2"} {
			cfg := bu.config()
			cfg.ConsumerName = name
			cfg.MaxAttempts = 8
			eventlogtest.Start(t, bu.runner(t, cfg), sub("test.bulk", handler))
		}
		// Four concurrent producers, so transactions interleave and commit
		// out of seq order where the database allows it.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 100 {
					if _, err := tryAppendN(bu.db, 25); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		// A deadline, not a speed assertion: -race on a busy 2-core machine
		// is slow.
		deadline := time.Now().Add(3 * time.Minute)
		for handled.Load() < 100*25*4 {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 10,000 events had their effect after 3 minutes", handled.Load())
			}
			time.Sleep(50 * time.Millisecond)
		}
		total, distinct := countEffects(t, bu.db)
		if distinct != 100*25*4 {
			t.Fatalf("%d distinct effects, want 10,000", distinct)
		}
		if total != distinct {
			t.Fatalf("%d effects for %d events: some applied twice", total, distinct)
		}
		if failures.Load() == 0 {
			t.Fatal("no transient failure was injected")
		}
		if list := waitDeadLettersNow(t, bu); len(list) != 0 {
			t.Fatalf("%d events dead-lettered", len(list))
		}
	})

	if b.redis {
		t.Run("TwoDispatchersPublishEachEventOnce", func(t *testing.T) {
			t.Parallel()
			bu := setup(t, b, withoutDispatcher)
			var ids []string
			for range 20 {
				ids = append(ids, appendN(t, bu.db, 100)...)
			}
			bu.startDispatcher(t)
			bu.startDispatcher(t)
			key := eventlog.StreamKey(bu.prefix, eventlog.DomainEvents)
			eventlogtest.Eventually(t, 20*time.Second, func() bool {
				var pending int
				err := bu.db.SQL.QueryRow(`SELECT count(*) FROM outbox`).Scan(&pending)
				return err == nil && pending == 0
			}, "outbox published")
			msgs, err := bu.rdb.XRange(context.Background(), key, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, m := range msgs {
				env, err := eventlog.DecodeEntry(m.Values)
				if err != nil {
					t.Fatal(err)
				}
				seen[env.ID]++
			}
			if len(msgs) != len(ids) || len(seen) != len(ids) {
				t.Fatalf("stream holds %d entries for %d distinct events, want %d once each", len(msgs), len(seen), len(ids))
			}
		})
	}
}

func waitDeadLettersNow(t *testing.T, b *bundle) []eventlog.DeadLetter {
	t.Helper()
	list, err := eventlog.NewDeadLetters(b.db, b.rdb, b.prefix).List(context.Background())
	if err != nil {
		t.Fatalf("list dead letters: %v", err)
	}
	return list
}

// metricValue reads a per-subscriber counter from the bundle's registry.
func metricValue(t *testing.T, b *bundle, name, subscriber string) float64 {
	t.Helper()
	families, err := b.metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "subscriber" && l.GetValue() == subscriber {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
