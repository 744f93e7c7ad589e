package eventlogtest_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

type pinged struct{ N int }

func (pinged) EventType() string { return "test.pinged" }

func appendEvents(t *testing.T, db *store.DB, n int) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		for i := range n {
			env := eventlog.MustEnvelope(context.Background(), "tenant-1", "", pinged{N: i})
			if err := eventlog.Append(context.Background(), tx, eventlog.DomainEvents, env); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			t.Run("DrainHandlesEverythingOnce", func(t *testing.T) {
				t.Parallel()
				db := testenv.OpenDB(t, d)
				appendEvents(t, db, 5)
				seen := map[string]int{}
				sub := eventlog.Subscription{Name: "test.drain", Stream: eventlog.DomainEvents,
					Handler: func(ctx context.Context, env eventlog.Envelope) error { seen[env.ID]++; return nil }}
				eventlogtest.Drain(t, db, sub)
				appendEvents(t, db, 2)
				eventlogtest.Drain(t, db, sub)
				if len(seen) != 7 {
					t.Fatalf("handled %d distinct events, want 7", len(seen))
				}
				for id, n := range seen {
					if n != 1 {
						t.Errorf("event %s handled %d times", id, n)
					}
				}
			})
			t.Run("StartEmbeddedDeliversNewCommits", func(t *testing.T) {
				t.Parallel()
				db := testenv.OpenDB(t, d)
				var mu sync.Mutex
				count := 0
				eventlogtest.StartEmbedded(t, db, eventlog.Subscription{Name: "test.start", Stream: eventlog.DomainEvents,
					Handler: func(ctx context.Context, env eventlog.Envelope) error { mu.Lock(); count++; mu.Unlock(); return nil }})
				appendEvents(t, db, 3)
				eventlogtest.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return count == 3 }, "3 events handled")
			})
		})
	}
}
