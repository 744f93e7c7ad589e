package eventlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Handler processes one envelope. A returned error means "try again later":
// the entry is retried with backoff and dead-lettered after the last attempt.
type Handler func(ctx context.Context, env Envelope) error

// Subscription is one subscriber group: a Redis consumer group in distributed
// mode, a cursor in embedded mode. Every group sees every entry of its stream
// at least once; entries whose type does not match are acknowledged unseen.
type Subscription struct {
	// Name identifies the group, e.g. "messaging.persist"; it is stable
	// because it keys cursors, consumer groups and idempotency records.
	Name string
	// Stream is DomainEvents or SessionCommands.
	Stream string
	// Types filters by event type: exact names or prefixes ending in ".*"
	// ("session.*"). Empty means every type.
	Types []string
	// Handler is called for each matching entry.
	Handler Handler
}

// Matches reports whether the subscription wants an event type.
func (s Subscription) Matches(eventType string) bool {
	return MatchType(s.Types, eventType)
}

// MatchType reports whether eventType matches one of the patterns: exact
// names, or prefixes ending in ".*". No patterns match everything.
func MatchType(patterns []string, eventType string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == eventType || p == "*" {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(eventType, prefix) {
			return true
		}
	}
	return false
}

// maxTypePatternLength bounds a pattern clients may send (WebSocket filters,
// webhook endpoint events).
const maxTypePatternLength = 100

// ValidTypePattern reports whether p is something MatchType understands: an
// event type ("message.received"), a prefix pattern ("session.*") or "*" —
// letters, digits, '_', '-' and dots, with '*' only as the whole last segment.
func ValidTypePattern(p string) bool {
	if p == "" || len(p) > maxTypePatternLength {
		return false
	}
	if p == "*" {
		return true
	}
	body, _ := strings.CutSuffix(p, ".*")
	if body == "" || body[0] == '.' || body[len(body)-1] == '.' || strings.Contains(body, "..") {
		return false
	}
	for _, r := range body {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// MarkProcessed records, in the handler's own transaction, that subscriber
// has handled eventID. It returns false when it already had: the handler
// then skips its writes, so a redelivered entry has no second effect.
func MarkProcessed(ctx context.Context, tx *sql.Tx, subscriber, eventID string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO processed_events (subscriber, event_id, processed_at)
		VALUES ($1, $2, $3) ON CONFLICT (subscriber, event_id) DO NOTHING`,
		subscriber, eventID, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("mark %s processed by %s: %w", eventID, subscriber, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark %s processed by %s: %w", eventID, subscriber, err)
	}
	return n == 1, nil
}
