package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
)

// RedisLog runs subscriptions as Redis Streams consumer groups, one group
// per Subscription (named after it) on the stream Config.Prefix+Stream. Any
// number of processes may consume a group; entries left pending by a dead
// consumer are reclaimed with XAUTOCLAIM after Config.ClaimIdle.
//
// Entries are acknowledged only after their handler succeeded or they were
// dead-lettered: to the DLQ stream (Prefix+"domain-events-dlq") or, when that
// cannot be written, to the dead_letters table.
type RedisLog struct {
	core
	rdb *redis.Client
}

// NewRedisLog builds the Redis Streams backend. db holds the dead_letters
// table used when the DLQ stream is unavailable, and operator replays.
func NewRedisLog(db *store.DB, rdb *redis.Client, cfg Config, logger *slog.Logger, m *observe.Metrics) (*RedisLog, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || rdb == nil {
		return nil, errors.New("eventlog: Redis log needs a database and a Redis client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &RedisLog{
		core: core{db: db, cfg: cfg, logger: logger.With("component", "eventlog", "backend", "redis"), m: newMetrics(m)},
		rdb:  rdb,
	}
	l.deadLetter = l.deadLetterStream
	return l, nil
}

// Run consumes every subscription until ctx ends.
func (l *RedisLog) Run(ctx context.Context, subs ...Subscription) error {
	if err := validateSubscriptions(subs); err != nil {
		return err
	}
	if len(subs) == 0 {
		<-ctx.Done()
		return nil
	}
	go l.runReplays(ctx, subs)
	runAll(ctx, subs, l.runGroup)
	return nil
}

// DeadLetterFields are the fields of a DLQ stream entry besides the original
// envelope's ("event", "traceparent").
const (
	dlqSubscriber = "subscriber"
	dlqStream     = "stream"
	dlqError      = "error"
	dlqAttempts   = "attempts"
	dlqFailedAt   = "failed_at"
)

func (l *RedisLog) deadLetterStream(ctx context.Context, sub Subscription, env Envelope, cause error, attempts int) error {
	values, err := EntryValues(env)
	if err != nil {
		return err
	}
	reason := "unknown error"
	if cause != nil {
		reason = cause.Error()
	}
	values[dlqSubscriber] = sub.Name
	values[dlqStream] = sub.Stream
	values[dlqError] = reason
	values[dlqAttempts] = strconv.Itoa(attempts)
	values[dlqFailedAt] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	err = l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: StreamKey(l.cfg.Prefix, DeadLetterQueue), Values: values}).Err()
	if err == nil {
		return nil
	}
	entryLogger(l.logger, sub, env).Error("DLQ stream unavailable, dead-lettering to the database", "error", err)
	if dbErr := insertDeadLetter(ctx, l.db, sub, env, cause, attempts); dbErr != nil {
		return errors.Join(err, dbErr)
	}
	return nil
}

// group is one consumer of one consumer group.
type group struct {
	l   *RedisLog
	sub Subscription
	key string
	log *slog.Logger

	mu       sync.Mutex
	inflight []string // read but not acknowledged yet; kept fresh by heartbeat
}

func (l *RedisLog) runGroup(ctx context.Context, sub Subscription) {
	g := &group{l: l, sub: sub, key: StreamKey(l.cfg.Prefix, sub.Stream), log: l.logger.With("subscriber", sub.Name)}
	for {
		err := g.ensure(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		g.log.Error("create consumer group", "error", err)
		_ = sleep(ctx, l.cfg.PollInterval)
	}
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go g.heartbeat(hbCtx)
	g.consume(ctx)
}

// ensure creates the consumer group at the start of the stream, so a new
// subscriber sees everything the stream still holds, like a new cursor.
func (g *group) ensure(ctx context.Context) error {
	err := g.l.rdb.XGroupCreateMkStream(ctx, g.key, g.sub.Name, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func (g *group) consume(ctx context.Context) {
	cfg := g.l.cfg
	// First re-read what this consumer name left pending before a restart,
	// then new entries.
	cursor := "0"
	var lastClaim time.Time
	failures := 0
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= cfg.ClaimIdle/2 {
			if err := g.reclaim(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("reclaim pending entries", "error", err)
			}
			lastClaim = time.Now()
		}
		res, err := g.l.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: g.sub.Name, Consumer: cfg.ConsumerName, Streams: []string{g.key, cursor},
			Count: int64(cfg.BatchSize), Block: cfg.PollInterval,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				_ = g.ensure(ctx)
			}
			failures++
			g.log.Error("read consumer group", "error", err)
			_ = sleep(ctx, backoff(cfg.PollInterval/10, 5*cfg.PollInterval, failures))
			continue
		}
		failures = 0
		var msgs []redis.XMessage
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
		if cursor == "0" && len(msgs) == 0 {
			cursor = ">"
			continue
		}
		if err := g.process(ctx, msgs); err != nil && ctx.Err() == nil {
			g.log.Error("consume entries", "error", err)
			_ = sleep(ctx, cfg.PollInterval)
		}
	}
}

// reclaim takes over entries other consumers left pending longer than
// ClaimIdle (they died or stalled) and handles them.
func (g *group) reclaim(ctx context.Context) error {
	start := "0-0"
	for {
		msgs, next, err := g.l.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: g.key, Group: g.sub.Name, Consumer: g.l.cfg.ConsumerName,
			MinIdle: g.l.cfg.ClaimIdle, Start: start, Count: int64(g.l.cfg.BatchSize),
		}).Result()
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			g.log.Info("reclaimed entries of a stalled consumer", "count", len(msgs))
			if err := g.process(ctx, msgs); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
}

// process handles a batch in order and acknowledges, in one XACK, every
// entry that was handled or dead-lettered. It stops at the first entry that
// could not be (ctx ended, or dead-lettering failed): that one and the rest
// stay pending and are delivered again.
func (g *group) process(ctx context.Context, msgs []redis.XMessage) error {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	g.setInflight(ids)
	defer g.setInflight(nil)

	done := make([]string, 0, len(msgs))
	var handleErr error
	for _, m := range msgs {
		if len(m.Values) == 0 {
			done = append(done, m.ID) // trimmed away while pending
			continue
		}
		env, err := DecodeEntry(m.Values)
		if err != nil {
			g.log.Error("dropping undecodable stream entry", "entryId", m.ID, "error", err)
			done = append(done, m.ID)
			continue
		}
		if handleErr = g.l.handle(ctx, g.sub, env); handleErr != nil {
			break
		}
		done = append(done, m.ID)
	}
	if len(done) > 0 {
		ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := g.l.rdb.XAck(ackCtx, g.key, g.sub.Name, done...).Err(); err != nil {
			return errors.Join(handleErr, fmt.Errorf("ack %d entries: %w", len(done), err))
		}
	}
	return handleErr
}

func (g *group) setInflight(ids []string) {
	g.mu.Lock()
	g.inflight = ids
	g.mu.Unlock()
}

// heartbeat keeps the entries this consumer is working on from looking idle
// (XCLAIM to itself resets their idle time), so a slow handler or a long
// retry backoff is not mistaken for a dead consumer. It also samples the
// group's pending count.
func (g *group) heartbeat(ctx context.Context) {
	t := time.NewTicker(g.l.cfg.ClaimIdle / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		ids := append([]string(nil), g.inflight...)
		g.mu.Unlock()
		if len(ids) > 0 {
			if err := g.l.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
				Stream: g.key, Group: g.sub.Name, Consumer: g.l.cfg.ConsumerName, MinIdle: 0, Messages: ids,
			}).Err(); err != nil && ctx.Err() == nil {
				g.log.Warn("heartbeat pending entries", "error", err)
			}
		}
		if groups, err := g.l.rdb.XInfoGroups(ctx, g.key).Result(); err == nil {
			for _, info := range groups {
				if info.Name == g.sub.Name {
					g.l.m.pending.WithLabelValues(g.sub.Name).Set(float64(info.Pending + max(info.Lag, 0)))
				}
			}
		}
	}
}
