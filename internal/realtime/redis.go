package realtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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

var (
	_ Source           = (*RedisSource)(nil)
	_ positionedSource = (*RedisSource)(nil)
)

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
	return s.runPositioned(ctx, func() {}, func(e eventlog.Envelope, _ position) { emit(e) })
}

// runPositioned is Run with each entry's id as its position, the order a
// StreamLog replays in. ready is called once the starting point is fixed.
func (s *RedisSource) runPositioned(ctx context.Context, ready func(), emit func(eventlog.Envelope, position)) error {
	last := ""
	failures := 0
	for ctx.Err() == nil {
		err := s.read(ctx, &last, ready, emit)
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

func (s *RedisSource) read(ctx context.Context, last *string, ready func(), emit func(eventlog.Envelope, position)) error {
	if *last == "" {
		id, err := s.lastID(ctx)
		if err != nil {
			return err
		}
		*last = id
		ready()
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
			pos, err := parseEntryID(m.ID)
			if err != nil {
				return err
			}
			env, err := eventlog.DecodeEntry(m.Values)
			if err != nil {
				s.logger.Error("realtime: skipping undecodable stream entry", "entryId", m.ID, "error", err.Error())
				continue
			}
			emit(env, pos)
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

// parseEntryID turns a stream entry id ("1700000000123-4") into a position.
func parseEntryID(id string) (position, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return position{}, fmt.Errorf("stream entry id %q is not ms-seq", id)
	}
	a, err1 := strconv.ParseInt(ms, 10, 64)
	b, err2 := strconv.ParseInt(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return position{}, fmt.Errorf("stream entry id %q is not ms-seq", id)
	}
	return position{txID: a, seq: b}, nil
}

func (p position) entryID() string {
	return strconv.FormatInt(p.txID, 10) + "-" + strconv.FormatInt(p.seq, 10)
}

// StreamLog answers resume requests from the domain-events stream: the event
// log of distributed mode, where the dispatcher removes published rows from
// the outbox. Replaying the stream gives exactly the order the hub's live
// events follow, whichever API process the client was connected to before.
type StreamLog struct {
	rdb *redis.Client
	key string
	// maxScan bounds how many entries locating since may read.
	maxScan int
	now     func() time.Time
}

var _ Replayer = (*StreamLog)(nil)

// NewStreamLog reads resume positions and missed events from the
// domain-events stream under prefix.
func NewStreamLog(rdb *redis.Client, prefix string) *StreamLog {
	return &StreamLog{rdb: rdb, key: eventlog.StreamKey(prefix, eventlog.DomainEvents), maxScan: 200_000, now: time.Now}
}

// sinceSkew is how long before its id's timestamp an event's stream entry
// is looked for: the id is made before the commit and the entry after it,
// so only clock skew between the producer and Redis can put it earlier.
const sinceSkew = 5 * time.Second

// locate finds the entry of eventID, one of tenantID's events within window.
// Event ids are UUIDv7, so the search starts near the event's creation time.
func (l *StreamLog) locate(ctx context.Context, tenantID, eventID string, window time.Duration) (position, error) {
	u, err := uuid.Parse(eventID)
	if err != nil || u.Version() != 7 {
		return position{}, errSinceTooOld
	}
	created := time.UnixMilli(int64(binary.BigEndian.Uint64(u[:8]) >> 16))
	if created.Before(l.now().Add(-window)) {
		return position{}, errSinceTooOld
	}
	start := strconv.FormatInt(created.Add(-sinceSkew).UnixMilli(), 10) + "-0"
	for scanned := 0; scanned < l.maxScan; {
		msgs, err := l.rdb.XRangeN(ctx, l.key, start, "+", 500).Result()
		if err != nil {
			return position{}, fmt.Errorf("locate event %s in %s: %w", eventID, l.key, err)
		}
		if len(msgs) == 0 {
			return position{}, errSinceTooOld
		}
		for _, m := range msgs {
			env, err := eventlog.DecodeEntry(m.Values)
			if err != nil || env.ID != eventID {
				continue
			}
			if env.TenantID != tenantID {
				return position{}, errSinceTooOld
			}
			return parseEntryID(m.ID)
		}
		scanned += len(msgs)
		start = "(" + msgs[len(msgs)-1].ID
	}
	return position{}, errSinceTooOld
}

// after returns the tenant's events after from, in stream order, narrowed
// to f's session, reading up to limit entries of all tenants; more reports
// whether entries may remain.
func (l *StreamLog) after(ctx context.Context, f Filter, from position, limit int) ([]row, position, bool, error) {
	msgs, err := l.rdb.XRangeN(ctx, l.key, "("+from.entryID(), "+", int64(limit)).Result()
	if err != nil {
		return nil, from, false, fmt.Errorf("replay %s: %w", l.key, err)
	}
	var rows []row
	for _, m := range msgs {
		pos, err := parseEntryID(m.ID)
		if err != nil {
			return nil, from, false, err
		}
		from = pos
		env, err := eventlog.DecodeEntry(m.Values)
		if err != nil || env.TenantID != f.TenantID || (f.SessionID != "" && env.SessionID != f.SessionID) {
			continue
		}
		rows = append(rows, row{env: env, pos: pos})
	}
	return rows, from, len(msgs) == limit, nil
}
