package auth

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/internal/store"
)

// Limit is how many failures a key may have per window.
type Limit struct {
	Max    int
	Window time.Duration
}

// failureLimiter counts failures per key in fixed windows kept in the
// database, so every API process shares the counts (an in-memory limiter
// would give an attacker a fresh allowance per process).
type failureLimiter struct {
	db  *store.DB
	now func() time.Time
	// keep is the longest window in use: counters older than twice that
	// are purged.
	keep      time.Duration
	lastPurge atomic.Int64
}

func windowStart(now time.Time, window time.Duration) int64 {
	w := window.Milliseconds()
	ms := now.UnixMilli()
	return ms - ms%w
}

// retryAfter returns how long key must wait when it has used up its
// allowance in the current window, or 0.
func (l *failureLimiter) retryAfter(ctx context.Context, key string, lim Limit) (time.Duration, error) {
	now := l.now()
	start := windowStart(now, lim.Window)
	var count int
	err := l.db.SQL.QueryRowContext(ctx, `SELECT COALESCE(SUM(count), 0) FROM auth_rate_limits
		WHERE key = $1 AND window_start = $2`, key, start).Scan(&count)
	if err != nil {
		return 0, fmt.Errorf("read rate limit: %w", err)
	}
	if count < lim.Max {
		return 0, nil
	}
	return time.UnixMilli(start).Add(lim.Window).Sub(now), nil
}

// fail counts one failure for key.
func (l *failureLimiter) fail(ctx context.Context, key string, lim Limit) error {
	now := l.now()
	start := windowStart(now, lim.Window)
	if _, err := l.db.SQL.ExecContext(ctx, `INSERT INTO auth_rate_limits (key, window_start, count) VALUES ($1, $2, 1)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN auth_rate_limits.window_start = excluded.window_start THEN auth_rate_limits.count + 1 ELSE 1 END,
			window_start = excluded.window_start`, key, start); err != nil {
		return fmt.Errorf("count rate limit: %w", err)
	}
	l.purge(ctx, now)
	return nil
}

// purge drops counters of past windows, at most once a minute per process.
func (l *failureLimiter) purge(ctx context.Context, now time.Time) {
	last := l.lastPurge.Load()
	if now.UnixMilli()-last < time.Minute.Milliseconds() || !l.lastPurge.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	// Counters are only a defence; failing to purge them is not worth an error.
	_, _ = l.db.SQL.ExecContext(ctx, `DELETE FROM auth_rate_limits WHERE window_start < $1`,
		now.Add(-2*l.keep).UnixMilli())
}

// seconds rounds a wait up to whole seconds for Retry-After.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
