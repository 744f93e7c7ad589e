package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wagate/wagate/internal/store"
)

var tracer = otel.Tracer("github.com/wagate/wagate/internal/eventlog")

// deadLetterFunc records an entry a subscriber gave up on. The Redis backend
// writes the DLQ stream and falls back to the table; the embedded one writes
// the table.
type deadLetterFunc func(ctx context.Context, sub Subscription, env Envelope, cause error, attempts int) error

// core is what both backends share: the retry loop, tracing, metrics,
// dead-lettering and operator replays.
type core struct {
	db         *store.DB
	cfg        Config
	logger     *slog.Logger
	m          *metrics
	deadLetter deadLetterFunc
}

// handle runs sub's handler on env until it succeeds or the attempts run
// out, then dead-letters it. A nil result means the entry may be
// acknowledged; an error (ctx ended, or the dead letter could not be written)
// means it must stay unacknowledged so it is delivered again.
//
// Retries happen in place, so a failing entry holds its group for the
// backoff (about 13 s with the defaults) and the group's order is kept; other
// groups are not affected.
func (c *core) handle(ctx context.Context, sub Subscription, env Envelope) error {
	if !sub.Matches(env.Type) {
		return nil
	}
	var lastErr error
	attempts := 0
	for attempts < c.cfg.MaxAttempts {
		attempts++
		err := c.attempt(ctx, sub, env, attempts)
		if err == nil {
			c.m.processed.WithLabelValues(sub.Name).Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lastErr = err
		if attempts == c.cfg.MaxAttempts {
			break
		}
		c.m.retried.WithLabelValues(sub.Name).Inc()
		wait := backoff(c.cfg.BaseBackoff, c.cfg.MaxBackoff, attempts)
		entryLogger(c.logger, sub, env).Warn("event handler failed, retrying",
			"attempt", attempts, "retryIn", wait.String(), "error", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	entryLogger(c.logger, sub, env).Error("event handler failed for the last time, dead-lettering",
		"attempts", attempts, "error", lastErr)
	if err := c.deadLetter(ctx, sub, env, lastErr, attempts); err != nil {
		return fmt.Errorf("dead-letter %s for %s: %w", env.ID, sub.Name, err)
	}
	c.m.deadLettered.WithLabelValues(sub.Name).Inc()
	return nil
}

// attempt calls the handler once inside a consumer span joined to the
// producer's trace. A panic is an error like any other: it is retried and
// then dead-lettered instead of killing the consumer.
func (c *core) attempt(ctx context.Context, sub Subscription, env Envelope, attempt int) (err error) {
	ctx, span := tracer.Start(env.Context(ctx), "handle "+env.Type,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "wagate"),
			attribute.String("messaging.destination.name", sub.Stream),
			attribute.String("messaging.consumer.group.name", sub.Name),
			attribute.String("messaging.message.id", env.ID),
			attribute.String("wagate.event.type", env.Type),
			attribute.Int("wagate.attempt", attempt),
		))
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
		c.m.duration.WithLabelValues(sub.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	return sub.Handler(ctx, env)
}

// insertDeadLetter records a dead letter in the dead_letters table. One row
// per (subscriber, event): dead-lettering the same entry again (a redelivery
// after a crash, or a failed replay) updates it instead of adding another.
func insertDeadLetter(ctx context.Context, db *store.DB, sub Subscription, env Envelope, cause error, attempts int) error {
	body, err := envelopeJSON(env)
	if err != nil {
		return err
	}
	reason := "unknown error"
	if cause != nil {
		reason = cause.Error()
	}
	_, err = db.SQL.ExecContext(ctx, `INSERT INTO dead_letters
		(id, subscriber, stream, event_id, event_type, tenant_id, envelope, trace_parent, error, attempts, failed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (subscriber, event_id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts,
			failed_at = excluded.failed_at, replay_requested_at = NULL, replayed_at = NULL`,
		NewID(), sub.Name, sub.Stream, env.ID, env.Type, env.TenantID, body, env.TraceParent,
		reason, attempts, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("insert dead letter: %w", err)
	}
	return nil
}

// runReplays hands dead letters an operator asked to replay (wagate
// dead-letters replay) back to their subscribers, with the usual retries.
// A replay that fails again updates the same dead_letters row.
func (c *core) runReplays(ctx context.Context, subs []Subscription) {
	byName := make(map[string]Subscription, len(subs))
	for _, s := range subs {
		byName[s.Name] = s
	}
	for {
		if err := c.replayOnce(ctx, byName); err != nil && ctx.Err() == nil {
			c.logger.Error("replay dead letters", "error", err)
		}
		if sleep(ctx, c.cfg.ReplayInterval) != nil {
			return
		}
	}
}

func (c *core) replayOnce(ctx context.Context, byName map[string]Subscription) error {
	rows, err := c.db.SQL.QueryContext(ctx, `SELECT id, subscriber, envelope, trace_parent
		FROM dead_letters WHERE replay_requested_at IS NOT NULL ORDER BY failed_at LIMIT 1000`)
	if err != nil {
		return fmt.Errorf("find requested replays: %w", err)
	}
	type replay struct {
		id  string
		sub Subscription
		env Envelope
	}
	var todo []replay
	for rows.Next() {
		var id, subscriber, body, tp string
		if err := rows.Scan(&id, &subscriber, &body, &tp); err != nil {
			rows.Close()
			return fmt.Errorf("scan replay: %w", err)
		}
		sub, ok := byName[subscriber]
		if !ok {
			continue // another process runs this subscriber
		}
		env, err := parseEnvelopeJSON(body, tp)
		if err != nil {
			c.logger.Error("dead letter with an unreadable envelope", "deadLetterId", id, "error", err)
			continue
		}
		todo = append(todo, replay{id: id, sub: sub, env: env})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read replays: %w", err)
	}
	for _, r := range todo {
		// Claim the row so that only one consumer of the group replays it.
		res, err := c.db.SQL.ExecContext(ctx, `UPDATE dead_letters SET replay_requested_at = NULL
			WHERE id = $1 AND replay_requested_at IS NOT NULL`, r.id)
		if err != nil {
			return fmt.Errorf("claim replay %s: %w", r.id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		log := entryLogger(c.logger, r.sub, r.env).With("deadLetterId", r.id)
		log.Info("replaying dead letter")
		failedAgain := false
		replayer := *c
		replayer.deadLetter = func(ctx context.Context, sub Subscription, env Envelope, cause error, attempts int) error {
			failedAgain = true
			return insertDeadLetter(ctx, c.db, sub, env, cause, attempts)
		}
		if err := replayer.handle(ctx, r.sub, r.env); err != nil {
			if errors.Is(err, ctx.Err()) {
				return err
			}
			log.Error("replay failed", "error", err)
			continue
		}
		if failedAgain {
			continue
		}
		if _, err := c.db.SQL.ExecContext(ctx, `UPDATE dead_letters SET replayed_at = $2 WHERE id = $1`,
			r.id, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("mark replay %s done: %w", r.id, err)
		}
	}
	return nil
}
