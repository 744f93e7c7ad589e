package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
)

// EmbeddedLog runs subscriptions straight off the outbox table, without
// Redis: the outbox is the log and each subscriber group keeps a cursor in
// consumer_cursors. One consumer at a time holds a group (a lease renewed by
// heartbeat), so several processes may run the same subscriptions and one
// takes over when another dies.
//
// The cursor never skips a row that commits late. On SQLite there is one
// writer and transactions begin IMMEDIATE, so seq order is commit order. On
// PostgreSQL rows are read in (tx_id, seq) order and only from transactions
// older than the snapshot's xmin, i.e. finished: no row can later appear
// behind the cursor.
type EmbeddedLog struct {
	core
	wake *waker
}

// ErrLeaseLost means another consumer took a group over (this one stalled
// longer than Config.ClaimIdle).
var ErrLeaseLost = errors.New("eventlog: consumer group lease lost")

// NewEmbeddedLog builds the embedded log over db. It registers an
// after-commit hook on db so that consumers in this process wake as soon as
// a transaction commits; on PostgreSQL they also LISTEN for other processes'
// commits, and every consumer polls as a fallback.
func NewEmbeddedLog(db *store.DB, cfg Config, logger *slog.Logger, m *observe.Metrics) (*EmbeddedLog, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, errors.New("eventlog: embedded log needs a database")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &EmbeddedLog{
		core: core{db: db, cfg: cfg, logger: logger.With("component", "eventlog", "backend", "embedded"), m: newMetrics(m)},
		wake: newWaker(),
	}
	l.deadLetter = func(ctx context.Context, sub Subscription, env Envelope, cause error, attempts int) error {
		return insertDeadLetter(ctx, db, sub, env, cause, attempts)
	}
	db.AfterCommit(l.wake.notify)
	registerCursorLag(l.m.reg, db)
	return l, nil
}

// Run consumes every subscription until ctx ends.
func (l *EmbeddedLog) Run(ctx context.Context, subs ...Subscription) error {
	if err := validateSubscriptions(subs); err != nil {
		return err
	}
	if len(subs) == 0 {
		<-ctx.Done()
		return nil
	}
	done := make(chan struct{})
	if l.db.Dialect == store.Postgres {
		go func() {
			defer close(done)
			listen(ctx, l.db.URL, outboxChannel, l.logger, l.wake.notify)
		}()
	} else {
		close(done)
	}
	go l.runReplays(ctx, subs)
	runAll(ctx, subs, l.runGroup)
	<-done
	return nil
}

// Drain handles, synchronously, everything committed to the subscriptions'
// streams before the call, and what those handlers append in turn, until
// every group is caught up. It is for tests and tools; Run is for services.
func (l *EmbeddedLog) Drain(ctx context.Context, subs ...Subscription) error {
	if err := validateSubscriptions(subs); err != nil {
		return err
	}
	for {
		progressed := false
		for _, sub := range subs {
			n, err := l.drainGroup(ctx, sub)
			if err != nil {
				return err
			}
			progressed = progressed || n > 0
		}
		if !progressed {
			return nil
		}
	}
}

// drainGroup takes the group's lease, consumes until nothing is left (rows
// held back by in-flight transactions are waited for) and releases it.
func (l *EmbeddedLog) drainGroup(ctx context.Context, sub Subscription) (int, error) {
	var pos position
	for {
		var ok bool
		var err error
		pos, ok, err = l.acquire(ctx, sub)
		if err != nil {
			return 0, err
		}
		if ok {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("drain %s: group held by another consumer: %w", sub.Name, err)
		}
	}
	defer l.release(sub)
	total := 0
	for {
		batch, heldBack, err := l.read(ctx, sub.Stream, pos)
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			if !heldBack {
				return total, nil
			}
			if err := sleep(ctx, 2*time.Millisecond); err != nil {
				return total, err
			}
			continue
		}
		n, next, err := l.consumeBatch(ctx, sub, pos, batch)
		total += n
		pos = next
		if err != nil {
			return total, err
		}
	}
}

// runGroup consumes one subscription for as long as ctx lasts: it waits for
// the group's lease, consumes while holding it, and starts over if it loses
// it or the database fails.
func (l *EmbeddedLog) runGroup(ctx context.Context, sub Subscription) {
	log := l.logger.With("subscriber", sub.Name)
	wake, unsubscribe := l.wake.subscribe()
	defer unsubscribe()
	for ctx.Err() == nil {
		pos, ok, err := l.acquire(ctx, sub)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("acquire consumer group", "error", err)
			}
			_ = sleep(ctx, l.cfg.PollInterval)
			continue
		}
		if !ok {
			_ = sleep(ctx, l.cfg.ClaimIdle/3)
			continue
		}
		err = l.consumeHeld(ctx, sub, pos, wake)
		if ctx.Err() != nil {
			break
		}
		log.Warn("consumer group interrupted, starting over", "error", err)
		_ = sleep(ctx, l.cfg.PollInterval)
	}
	l.release(sub)
}

// consumeHeld consumes while the lease is held; a heartbeat renews the lease
// independently of how long handlers take, and ends consumption when the
// lease is lost.
func (l *EmbeddedLog) consumeHeld(ctx context.Context, sub Subscription, pos position, wake <-chan struct{}) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go l.heartbeat(ctx, sub, cancel)
	retry := time.Duration(0)
	for {
		batch, heldBack, err := l.read(ctx, sub.Stream, pos)
		if err != nil {
			return errors.Join(err, context.Cause(ctx))
		}
		if len(batch) > 0 {
			retry = 0
			_, next, err := l.consumeBatch(ctx, sub, pos, batch)
			pos = next
			if err != nil {
				return errors.Join(err, context.Cause(ctx))
			}
			continue
		}
		wait := l.cfg.PollInterval
		if heldBack {
			// Committed rows wait for an older transaction to finish, which
			// may notify nobody: look again soon.
			retry = min(max(2*retry, time.Millisecond), wait)
			wait = retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// consumeBatch handles a batch in order and saves the cursor after the last
// entry that may be acknowledged. It returns how many were handled.
func (l *EmbeddedLog) consumeBatch(ctx context.Context, sub Subscription, pos position, batch []row) (int, position, error) {
	var handleErr error
	n := 0
	next := pos
	for _, r := range batch {
		if handleErr = l.handle(ctx, sub, r.env); handleErr != nil {
			break
		}
		next = r.pos
		n++
	}
	if n == 0 {
		return 0, pos, handleErr
	}
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.save(saveCtx, sub, next); err != nil {
		return n, pos, errors.Join(handleErr, err)
	}
	return n, next, handleErr
}

func (l *EmbeddedLog) heartbeat(ctx context.Context, sub Subscription, lost context.CancelCauseFunc) {
	t := time.NewTicker(l.cfg.ClaimIdle / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := l.db.SQL.ExecContext(ctx, `UPDATE consumer_cursors SET lease_until = $3
			WHERE subscriber = $1 AND owner = $2`,
			sub.Name, l.cfg.ConsumerName, time.Now().Add(l.cfg.ClaimIdle).UnixMilli())
		if err != nil {
			if time.Since(lastOK) > l.cfg.ClaimIdle {
				lost(fmt.Errorf("%w: renew failed: %v", ErrLeaseLost, err))
				return
			}
			continue
		}
		if n, _ := res.RowsAffected(); n != 1 {
			lost(ErrLeaseLost)
			return
		}
		lastOK = time.Now()
	}
}

// position is a cursor: the last handled row's (tx_id, seq). tx_id is 0 on
// SQLite.
type position struct{ tx, seq int64 }

type row struct {
	pos position
	env Envelope
}

// acquire takes the group's lease if it is free, expired or already ours,
// creating the cursor at the start of the outbox the first time.
func (l *EmbeddedLog) acquire(ctx context.Context, sub Subscription) (position, bool, error) {
	now := time.Now()
	if _, err := l.db.SQL.ExecContext(ctx, `INSERT INTO consumer_cursors (subscriber, stream, updated_at)
		VALUES ($1, $2, $3) ON CONFLICT (subscriber) DO NOTHING`, sub.Name, sub.Stream, now.UnixMilli()); err != nil {
		return position{}, false, fmt.Errorf("create cursor %s: %w", sub.Name, err)
	}
	var pos position
	err := l.db.SQL.QueryRowContext(ctx, `UPDATE consumer_cursors SET owner = $2, lease_until = $3, updated_at = $4
		WHERE subscriber = $1 AND (owner = $2 OR owner = '' OR lease_until < $4)
		RETURNING tx_id, seq`,
		sub.Name, l.cfg.ConsumerName, now.Add(l.cfg.ClaimIdle).UnixMilli(), now.UnixMilli()).Scan(&pos.tx, &pos.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, fmt.Errorf("acquire cursor %s: %w", sub.Name, err)
	}
	return pos, true, nil
}

// release gives the lease up so that a restarted process need not wait for
// it to expire.
func (l *EmbeddedLog) release(sub Subscription) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.db.SQL.ExecContext(ctx, `UPDATE consumer_cursors SET owner = '', lease_until = 0
		WHERE subscriber = $1 AND owner = $2`, sub.Name, l.cfg.ConsumerName); err != nil {
		l.logger.Warn("release consumer group", "subscriber", sub.Name, "error", err)
	}
}

// save moves the cursor, only while this consumer holds the lease.
func (l *EmbeddedLog) save(ctx context.Context, sub Subscription, pos position) error {
	now := time.Now()
	res, err := l.db.SQL.ExecContext(ctx, `UPDATE consumer_cursors SET tx_id = $3, seq = $4, lease_until = $5, updated_at = $6
		WHERE subscriber = $1 AND owner = $2`,
		sub.Name, l.cfg.ConsumerName, pos.tx, pos.seq, now.Add(l.cfg.ClaimIdle).UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", sub.Name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// read returns the next rows after pos. heldBack reports committed rows
// that cannot be read yet because an older transaction is still running
// (PostgreSQL only).
func (l *EmbeddedLog) read(ctx context.Context, stream string, pos position) ([]row, bool, error) {
	if l.db.Dialect != store.Postgres {
		rows, err := l.db.SQL.QueryContext(ctx, `SELECT seq, 0, id, type, tenant_id, session_id,
				occurred_at, data, trace_parent, 1
			FROM outbox WHERE stream = $1 AND seq > $2
			ORDER BY seq LIMIT $3`, stream, pos.seq, l.cfg.BatchSize)
		if err != nil {
			return nil, false, fmt.Errorf("read outbox %s: %w", stream, err)
		}
		defer rows.Close()
		return scanRows(stream, rows)
	}
	tx, err := l.db.SQL.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, false, fmt.Errorf("read outbox %s: %w", stream, err)
	}
	defer tx.Rollback()
	// Walk the (stream, tx_id, seq) index from the cursor and stop after a
	// batch. Left to itself the planner, misled by statistics that lag the
	// inserts, fetches and sorts every row after the cursor for each batch.
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off`); err != nil {
		return nil, false, fmt.Errorf("read outbox %s: %w", stream, err)
	}
	// Ordered by the xid8 column itself (o.tx_id): an unqualified name
	// would mean the bigint output column and defeat the index.
	rows, err := tx.QueryContext(ctx, `SELECT o.seq, o.tx_id::text::bigint, o.id, o.type, o.tenant_id, o.session_id,
			o.occurred_at, o.data, o.trace_parent, o.tx_id < pg_snapshot_xmin(pg_current_snapshot())
		FROM outbox o WHERE o.stream = $1 AND (o.tx_id, o.seq) > ($2::bigint::text::xid8, $3)
		ORDER BY o.tx_id, o.seq LIMIT $4`, stream, pos.tx, pos.seq, l.cfg.BatchSize)
	if err != nil {
		return nil, false, fmt.Errorf("read outbox %s: %w", stream, err)
	}
	defer rows.Close()
	return scanRows(stream, rows)
}

// scanRows reads rows up to the first one not visible yet.
func scanRows(stream string, rows *sql.Rows) ([]row, bool, error) {
	var out []row
	for rows.Next() {
		var r row
		var occurred int64
		var data string
		var visible bool
		if err := rows.Scan(&r.pos.seq, &r.pos.tx, &r.env.ID, &r.env.Type, &r.env.TenantID, &r.env.SessionID,
			&occurred, &data, &r.env.TraceParent, &visible); err != nil {
			return nil, false, fmt.Errorf("scan outbox row: %w", err)
		}
		if !visible {
			return out, true, nil
		}
		r.env.OccurredAt = time.UnixMilli(occurred).UTC()
		r.env.Data = []byte(data)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read outbox %s: %w", stream, err)
	}
	return out, false, nil
}
