// Package eventlogtest lets tests of other bounded contexts run their
// subscribers for real: Drain handles everything in the outbox
// synchronously, Start runs a Runner in the background for the test's
// lifetime.
package eventlogtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// Config is an event-log configuration for tests: retries without waiting,
// quick polling and lease takeover.
func Config() eventlog.Config {
	return eventlog.Config{
		MaxAttempts:    3,
		BaseBackoff:    time.Millisecond,
		MaxBackoff:     5 * time.Millisecond,
		BatchSize:      100,
		PollInterval:   50 * time.Millisecond,
		ClaimIdle:      time.Second,
		ReplayInterval: 200 * time.Millisecond,
		ConsumerName:   "eventlogtest-" + eventlog.NewID(),
	}
}

// Drain runs subs over everything in db's outbox (and what their handlers
// append in turn) until nothing is left, synchronously, through the embedded
// log. It fails the test when a handler still fails after its retries (the
// entry was dead-lettered) or after 30 seconds. Each subscription keeps its
// cursor, so calling Drain again handles only what was appended since.
func Drain(t testing.TB, db *store.DB, subs ...eventlog.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := eventlog.NewEmbeddedLog(db, Config(), nil, nil)
	if err != nil {
		t.Fatalf("eventlogtest: %v", err)
	}
	before := time.Now().UnixMilli()
	if err := log.Drain(ctx, subs...); err != nil {
		t.Fatalf("eventlogtest: drain: %v", err)
	}
	if failures := deadLettersSince(t, db, subs, before); len(failures) > 0 {
		t.Fatalf("eventlogtest: handlers failed after retries:\n%s", strings.Join(failures, "\n"))
	}
}

func deadLettersSince(t testing.TB, db *store.DB, subs []eventlog.Subscription, since int64) []string {
	t.Helper()
	names := make(map[string]bool, len(subs))
	for _, s := range subs {
		names[s.Name] = true
	}
	rows, err := db.SQL.QueryContext(context.Background(), `SELECT subscriber, event_type, event_id, error
		FROM dead_letters WHERE failed_at >= $1 ORDER BY failed_at`, since)
	if err != nil {
		t.Fatalf("eventlogtest: read dead letters: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sub, typ, id, reason string
		if err := rows.Scan(&sub, &typ, &id, &reason); err != nil {
			t.Fatalf("eventlogtest: read dead letters: %v", err)
		}
		if names[sub] {
			out = append(out, fmt.Sprintf("  %s on %s %s: %s", sub, typ, id, reason))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("eventlogtest: read dead letters: %v", err)
	}
	return out
}

// Start runs r with subs in the background until the test ends; the test
// fails if Run returns an error. Use it with a runner built from Config(),
// e.g. eventlog.NewEmbeddedLog(db, eventlogtest.Config(), logger, nil).
func Start(t testing.TB, r eventlog.Runner, subs ...eventlog.Subscription) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, subs...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("eventlogtest: runner: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("eventlogtest: runner did not stop within 10s")
		}
	})
}

// StartEmbedded builds an embedded log over db with Config() and starts it
// with subs until the test ends.
func StartEmbedded(t testing.TB, db *store.DB, subs ...eventlog.Subscription) *eventlog.EmbeddedLog {
	t.Helper()
	log, err := eventlog.NewEmbeddedLog(db, Config(), nil, nil)
	if err != nil {
		t.Fatalf("eventlogtest: %v", err)
	}
	Start(t, log, subs...)
	return log
}

// Eventually polls cond every 10ms until it holds, failing the test after
// timeout with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("eventlogtest: timed out after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
