package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/eventlog"
)

// RedisSourceConfig tunes a RedisSource.
type RedisSourceConfig struct {
	// Prefix is the deployment's Redis key prefix (config.RedisPrefix).
	Prefix string
	// Block is how long one XREAD waits for entries. Default 5s.
	Block time.Duration
	// BatchSize is XREAD's COUNT. Default 500.
	BatchSize int64
}

// RedisSource reads the domain-events stream with plain XREAD (no consumer
// group), so every API process sees every event: the hub's source in
// distributed mode.
type RedisSource struct {
	rdb    *redis.Client
	cfg    RedisSourceConfig
	key    string
	logger *slog.Logger
}

var _ Source = (*RedisSource)(nil)

// NewRedisSource follows the domain-events stream under cfg.Prefix.
func NewRedisSource(rdb *redis.Client, cfg RedisSourceConfig, logger *slog.Logger) *RedisSource {
	if cfg.Block <= 0 {
		cfg.Block = 5 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	return &RedisSource{rdb: rdb, cfg: cfg, key: eventlog.StreamKey(cfg.Prefix, eventlog.DomainEvents), logger: logger}
}

// Run emits every entry added to the stream after it starts. It remembers
// the last entry id rather than re-reading from "$", so a Redis hiccup or a
// timed-out block loses nothing.
func (s *RedisSource) Run(ctx context.Context, emit func(eventlog.Envelope)) error {
	last := ""
	failures := 0
	for ctx.Err() == nil {
		err := s.read(ctx, &last, emit)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		failures++
		wait := min(100*time.Millisecond*time.Duration(1<<min(failures, 8)), 30*time.Second)
		s.logger.Warn("realtime: read domain events from redis failed; retrying", "error", err.Error(), "retryIn", wait.String())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return ctx.Err()
}

func (s *RedisSource) read(ctx context.Context, last *string, emit func(eventlog.Envelope)) error {
	if *last == "" {
		id, err := s.lastID(ctx)
		if err != nil {
			return err
		}
		*last = id
	}
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.key, *last},
		Count:   s.cfg.BatchSize,
		Block:   s.cfg.Block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("xread %s: %w", s.key, err)
	}
	for _, st := range res {
		for _, m := range st.Messages {
			*last = m.ID
			env, err := eventlog.DecodeEntry(m.Values)
			if err != nil {
				s.logger.Error("realtime: skipping undecodable stream entry", "entryId", m.ID, "error", err.Error())
				continue
			}
			emit(env)
		}
	}
	return nil
}

// lastID is the id of the newest entry of the stream, "0-0" when it does not
// exist yet (then every entry it will ever get is new).
func (s *RedisSource) lastID(ctx context.Context) (string, error) {
	info, err := s.rdb.XInfoStream(ctx, s.key).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return "0-0", nil
		}
		return "", fmt.Errorf("xinfo stream %s: %w", s.key, err)
	}
	if info.LastGeneratedID == "" {
		return "0-0", nil
	}
	return info.LastGeneratedID, nil
}
