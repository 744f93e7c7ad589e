package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/store"
)

// DeadLetter is an entry a subscriber gave up on after its last attempt.
type DeadLetter struct {
	// ID names it for replay: a DLQ stream entry id ("1712…-0") or a
	// dead_letters row id (a UUID).
	ID string
	// Source is "stream" (the DLQ stream) or "table" (dead_letters).
	Source     string
	Subscriber string
	Stream     string
	Error      string
	Attempts   int
	FailedAt   time.Time
	Envelope   Envelope
	// ReplayRequested means an operator asked for a replay that no consumer
	// of the subscriber has picked up yet.
	ReplayRequested bool
}

// ErrDeadLetterNotFound is returned by Replay for an unknown id.
var ErrDeadLetterNotFound = errors.New("dead letter not found")

// DeadLetters lists dead letters and asks for their replay. Replay does not
// handle the entry itself: it marks it in the dead_letters table (moving a
// DLQ stream entry there first), and a running consumer of the original
// subscriber handles it again, with the usual retries, within
// Config.ReplayInterval.
type DeadLetters struct {
	db     *store.DB
	rdb    *redis.Client // nil in embedded mode
	prefix string
}

// NewDeadLetters builds the operations view. rdb is nil in embedded mode.
func NewDeadLetters(db *store.DB, rdb *redis.Client, prefix string) *DeadLetters {
	return &DeadLetters{db: db, rdb: rdb, prefix: prefix}
}

const listLimit = 10000

// List returns dead letters not replayed successfully yet, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]DeadLetter, error) {
	rows, err := d.db.SQL.QueryContext(ctx, `SELECT id, subscriber, stream, error, attempts, failed_at,
			envelope, trace_parent, replay_requested_at IS NOT NULL
		FROM dead_letters WHERE replayed_at IS NULL ORDER BY failed_at LIMIT $1`, listLimit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		dl := DeadLetter{Source: "table"}
		var failed int64
		var body, tp string
		if err := rows.Scan(&dl.ID, &dl.Subscriber, &dl.Stream, &dl.Error, &dl.Attempts, &failed,
			&body, &tp, &dl.ReplayRequested); err != nil {
			return nil, fmt.Errorf("scan dead letter: %w", err)
		}
		dl.FailedAt = time.UnixMilli(failed).UTC()
		if dl.Envelope, err = parseEnvelopeJSON(body, tp); err != nil {
			return nil, fmt.Errorf("dead letter %s: %w", dl.ID, err)
		}
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	if d.rdb != nil {
		msgs, err := d.rdb.XRangeN(ctx, StreamKey(d.prefix, DeadLetterQueue), "-", "+", listLimit).Result()
		if err != nil {
			return nil, fmt.Errorf("read DLQ stream: %w", err)
		}
		for _, m := range msgs {
			dl, err := decodeDLQEntry(m)
			if err != nil {
				return nil, err
			}
			out = append(out, dl)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.Before(out[j].FailedAt) })
	return out, nil
}

func decodeDLQEntry(m redis.XMessage) (DeadLetter, error) {
	env, err := DecodeEntry(m.Values)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("DLQ entry %s: %w", m.ID, err)
	}
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	attempts, _ := strconv.Atoi(str(dlqAttempts))
	failed, _ := strconv.ParseInt(str(dlqFailedAt), 10, 64)
	return DeadLetter{
		ID: m.ID, Source: "stream", Subscriber: str(dlqSubscriber), Stream: str(dlqStream),
		Error: str(dlqError), Attempts: attempts, FailedAt: time.UnixMilli(failed).UTC(), Envelope: env,
	}, nil
}

// Replay asks the original subscriber to handle dead letter id again.
func (d *DeadLetters) Replay(ctx context.Context, id string) error {
	res, err := d.db.SQL.ExecContext(ctx, `UPDATE dead_letters SET replay_requested_at = $2
		WHERE id = $1 AND replayed_at IS NULL`, id, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("request replay of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if d.rdb == nil {
		return fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
	}
	key := StreamKey(d.prefix, DeadLetterQueue)
	msgs, err := d.rdb.XRangeN(ctx, key, id, id, 1).Result()
	if err != nil {
		// Not a stream id either ("ERR Invalid stream ID").
		return fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
	}
	if len(msgs) == 0 {
		return fmt.Errorf("%w: %s", ErrDeadLetterNotFound, id)
	}
	return d.moveForReplay(ctx, key, msgs[0])
}

// moveForReplay copies a DLQ stream entry into dead_letters marked for
// replay, then deletes it from the stream (a crash in between leaves it in
// both; the replay is idempotent).
func (d *DeadLetters) moveForReplay(ctx context.Context, key string, m redis.XMessage) error {
	dl, err := decodeDLQEntry(m)
	if err != nil {
		return err
	}
	body, err := envelopeJSON(dl.Envelope)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	if _, err := d.db.SQL.ExecContext(ctx, `INSERT INTO dead_letters
		(id, subscriber, stream, event_id, event_type, tenant_id, envelope, trace_parent, error, attempts, failed_at, replay_requested_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (subscriber, event_id) DO UPDATE SET replay_requested_at = excluded.replay_requested_at, replayed_at = NULL`,
		NewID(), dl.Subscriber, dl.Stream, dl.Envelope.ID, dl.Envelope.Type, dl.Envelope.TenantID, body,
		dl.Envelope.TraceParent, dl.Error, dl.Attempts, store.Millis(dl.FailedAt), now); err != nil {
		return fmt.Errorf("request replay of %s: %w", m.ID, err)
	}
	if err := d.rdb.XDel(ctx, key, m.ID).Err(); err != nil {
		return fmt.Errorf("remove %s from the DLQ stream: %w", m.ID, err)
	}
	return nil
}

// ReplayAll asks for the replay of every dead letter and returns how many.
func (d *DeadLetters) ReplayAll(ctx context.Context) (int, error) {
	res, err := d.db.SQL.ExecContext(ctx, `UPDATE dead_letters SET replay_requested_at = $1
		WHERE replayed_at IS NULL AND replay_requested_at IS NULL`, time.Now().UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("request replays: %w", err)
	}
	n64, _ := res.RowsAffected()
	n := int(n64)
	if d.rdb == nil {
		return n, nil
	}
	key := StreamKey(d.prefix, DeadLetterQueue)
	for {
		msgs, err := d.rdb.XRangeN(ctx, key, "-", "+", 500).Result()
		if err != nil {
			return n, fmt.Errorf("read DLQ stream: %w", err)
		}
		if len(msgs) == 0 {
			return n, nil
		}
		for _, m := range msgs {
			if err := d.moveForReplay(ctx, key, m); err != nil {
				return n, err
			}
			n++
		}
	}
}
