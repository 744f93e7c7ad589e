package app

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/store"
)

type deadLetterTestEvent struct{}

func (deadLetterTestEvent) EventType() string { return "test.undeliverable" }

func TestDeadLettersCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := embeddedConfig(t)
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := DeadLetters(ctx, cfg, quietLogger(), args, &out)
		return out.String(), err
	}

	t.Run("RejectsBadUsage", func(t *testing.T) {
		for _, args := range [][]string{nil, {"purge"}, {"replay"}, {"list", "extra"}} {
			if _, err := run(args...); err == nil || !strings.Contains(err.Error(), "usage") {
				t.Errorf("dead-letters %v: err = %v, want usage", args, err)
			}
		}
	})

	out, err := run("list")
	if err != nil || !strings.Contains(out, "no dead letters") {
		t.Fatalf("list on an empty database = %q, %v", out, err)
	}

	// Dead-letter one event for real.
	if err := db.InTx(ctx, func(tx *sql.Tx) error {
		return eventlog.Append(ctx, tx, eventlog.DomainEvents, eventlog.MustEnvelope(ctx, "tenant-1", "", deadLetterTestEvent{}))
	}); err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.NewEmbeddedLog(db, eventlogtest.Config(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	drainCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := log.Drain(drainCtx, eventlog.Subscription{Name: "mail.send", Stream: eventlog.DomainEvents,
		Handler: func(context.Context, eventlog.Envelope) error { return errors.New("smtp: connection refused") }}); err != nil {
		t.Fatal(err)
	}

	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "mail.send") || !strings.Contains(out, "test.undeliverable") || !strings.Contains(out, "smtp: connection refused") {
		t.Fatalf("list does not show the dead letter:\n%s", out)
	}
	var id string
	if err := db.SQL.QueryRow(`SELECT id FROM dead_letters`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if out, err := run("replay", id); err != nil || !strings.Contains(out, "replay requested") {
		t.Fatalf("replay %s = %q, %v", id, out, err)
	}
	var requested sql.NullInt64
	if err := db.SQL.QueryRow(`SELECT replay_requested_at FROM dead_letters WHERE id = $1`, id).Scan(&requested); err != nil || !requested.Valid {
		t.Fatalf("replay not recorded: %v, %v", requested, err)
	}
	if _, err := run("replay", "does-not-exist"); !errors.Is(err, eventlog.ErrDeadLetterNotFound) {
		t.Fatalf("replay of an unknown id: %v", err)
	}
	if out, err := run("replay", "--all"); err != nil || !strings.Contains(out, "replay requested for 0") {
		t.Fatalf("replay --all with the only one already requested = %q, %v", out, err)
	}
}
