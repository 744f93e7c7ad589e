package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// forEachDialect runs the same contract test against SQLite and PostgreSQL.
func forEachDialect(t *testing.T, test func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			test(t, testenv.OpenDB(t, d))
		})
	}
}

func putSetting(ctx context.Context, tx *sql.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)`,
		key, value, store.Millis(time.Now()))
	return err
}

func getSetting(ctx context.Context, db *store.DB, key string) (string, error) {
	var v string
	err := db.SQL.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, err
}

func TestInTxCommitsWhenFnSucceeds(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, "k", "v") }); err != nil {
			t.Fatalf("InTx: %v", err)
		}
		got, err := getSetting(ctx, db, "k")
		if err != nil || got != "v" {
			t.Fatalf("committed row: got %q, %v", got, err)
		}
	})
}

func TestInTxRollsBackAndReturnsFnError(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if err := putSetting(ctx, tx, "k", "v"); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", boom)
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx must return fn's error, got %v", err)
		}
		if _, err := getSetting(ctx, db, "k"); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("row written by a failed transaction is visible: %v", err)
		}
	})
}

func TestInTxRollsBackOnPanicAndRepanics(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Errorf("panic must propagate unchanged, recovered %v", p)
				}
			}()
			_ = db.InTx(ctx, func(tx *sql.Tx) error {
				if err := putSetting(ctx, tx, "k", "v"); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()
		if _, err := getSetting(ctx, db, "k"); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("row written before the panic is visible: %v", err)
		}
		// The connection went back to the pool usable: the next transaction works.
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, "k", "after") }); err != nil {
			t.Fatalf("InTx after a panic: %v", err)
		}
	})
}

func TestInTxSerializesConcurrentWriters(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, "counter", "0") }); err != nil {
			t.Fatal(err)
		}
		const writers = 16
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.InTx(ctx, func(tx *sql.Tx) error {
					// Read, then write: the classic lost update unless the store
					// serializes writers (SQLite) or the update is atomic (both).
					var v string
					if err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, "counter").Scan(&v); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx,
						`UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = $1`, "counter")
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent InTx: %v", err)
			}
		}
		got, err := getSetting(ctx, db, "counter")
		if err != nil || got != strconv.Itoa(writers) {
			t.Fatalf("counter = %q (%v), want %d", got, err, writers)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, "dup", "1") }); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, "dup", "2") })
		if err == nil || !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate primary key: IsUniqueViolation(%v) = false", err)
		}
		if !store.IsUniqueViolation(fmt.Errorf("save: %w", err)) {
			t.Error("IsUniqueViolation must see through wrapping")
		}
		// outbox.id is UNIQUE but not the primary key.
		insert := func(tx *sql.Tx, seqID string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, stream, type, tenant_id, occurred_at, data)
				VALUES ($1, 'domain-events', 't', 'tenant', 1, '{}')`, seqID)
			return err
		}
		_ = db.InTx(ctx, func(tx *sql.Tx) error { return insert(tx, "e1") })
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return insert(tx, "e1") }); !store.IsUniqueViolation(err) {
			t.Errorf("duplicate UNIQUE column: IsUniqueViolation(%v) = false", err)
		}

		_, notNull := db.SQL.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, NULL, 1)`, "x")
		if notNull == nil || store.IsUniqueViolation(notNull) {
			t.Errorf("a NOT NULL violation is not a unique violation: %v", notNull)
		}
		_, syntax := db.SQL.ExecContext(ctx, `SELEKT 1`)
		if store.IsUniqueViolation(syntax) || store.IsUniqueViolation(nil) || store.IsUniqueViolation(errors.New("23505")) {
			t.Error("only real unique violations count")
		}
	})
}

func TestMillisRoundTrip(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// A time with sub-millisecond precision in a non-UTC zone.
		at := time.Date(2026, 11, 27, 10, 0, 0, 123_456_789, time.FixedZone("X", 3*3600))
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)`,
				"t", "v", store.Millis(at))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var ms int64
		if err := db.SQL.QueryRowContext(ctx, `SELECT updated_at FROM settings WHERE key = $1`, "t").Scan(&ms); err != nil {
			t.Fatal(err)
		}
		got := store.FromMillis(ms)
		if !got.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("round trip: got %v, want %v", got, at.Truncate(time.Millisecond))
		}
		if got.Location() != time.UTC {
			t.Errorf("FromMillis must return UTC, got %v", got.Location())
		}
	})
	if store.Millis(time.Time{}) != 0 || !store.FromMillis(0).IsZero() {
		t.Error("the zero time must map to 0 and back")
	}
}

// TestSettingsUpsert is the read/write pattern every context uses: one SQL
// text for both dialects with ON CONFLICT and RETURNING.
func TestSettingsUpsert(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		upsert := func(value string, at int64) (string, error) {
			var stored string
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
					ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
					RETURNING value`, "jwt", value, at).Scan(&stored)
			})
			return stored, err
		}
		if got, err := upsert("first", 1); err != nil || got != "first" {
			t.Fatalf("insert: %q, %v", got, err)
		}
		if got, err := upsert("second", 2); err != nil || got != "second" {
			t.Fatalf("update: %q, %v", got, err)
		}
		var n int
		var at int64
		if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*), MAX(updated_at) FROM settings WHERE key = $1`, "jwt").Scan(&n, &at); err != nil {
			t.Fatal(err)
		}
		if n != 1 || at != 2 {
			t.Errorf("after upsert: %d rows, updated_at %d; want 1 row, 2", n, at)
		}
		// ON CONFLICT DO NOTHING keeps the first writer's value.
		if _, err := db.SQL.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO NOTHING`, "jwt", "third", 3); err != nil {
			t.Fatal(err)
		}
		if got, _ := getSetting(ctx, db, "jwt"); got != "second" {
			t.Errorf("DO NOTHING overwrote the value: %q", got)
		}
	})
}

// TestDollarPlaceholders proves the $N style works in both dialects, reused
// and out of order, so contexts write each query once.
func TestDollarPlaceholders(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.SQL.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($2, $1, $3)`,
			"value-a", "key-a", 7); err != nil {
			t.Fatal(err)
		}
		var key, value string
		if err := db.SQL.QueryRowContext(ctx,
			`SELECT key, value FROM settings WHERE key = $1 AND (value = $2 OR key = $2) AND updated_at = $3`,
			"key-a", "value-a", 7).Scan(&key, &value); err != nil {
			t.Fatalf("query with reused $2: %v", err)
		}
		if key != "key-a" || value != "value-a" {
			t.Errorf("got %q=%q", key, value)
		}
	})
}

func TestForeignKeysAreEnforced(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, q := range []string{
			`CREATE TABLE fk_parent (id TEXT PRIMARY KEY)`,
			`CREATE TABLE fk_child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES fk_parent (id) ON DELETE CASCADE)`,
			`INSERT INTO fk_parent (id) VALUES ('p')`,
			`INSERT INTO fk_child (id, parent_id) VALUES ('c', 'p')`,
		} {
			if _, err := db.SQL.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if _, err := db.SQL.ExecContext(ctx, `INSERT INTO fk_child (id, parent_id) VALUES ('orphan', 'missing')`); err == nil {
			t.Error("a child row without its parent was accepted: foreign keys are off")
		}
		if _, err := db.SQL.ExecContext(ctx, `DELETE FROM fk_parent WHERE id = 'p'`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM fk_child`).Scan(&n); err != nil || n != 0 {
			t.Errorf("ON DELETE CASCADE left %d children (%v)", n, err)
		}
	})
}

// TestSQLitePragmasOnEveryConnection checks WAL, the busy timeout and foreign
// keys on several pooled connections at once, not only the first.
func TestSQLitePragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.SQLite)
	ctx := context.Background()
	var conns []*sql.Conn
	for range 4 {
		c, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var mode string
		var busy, fk int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || busy < 1000 || fk != 1 {
			t.Errorf("connection %d: journal_mode=%s busy_timeout=%d foreign_keys=%d; want wal, >=1000, 1", i, mode, busy, fk)
		}
		c.Close()
	}
}

func TestOpenSQLiteCreatesTheDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "deeper", "wagate.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if db.Dialect != store.SQLite {
		t.Errorf("dialect = %s", db.Dialect)
	}
	if _, err := db.SQL.ExecContext(context.Background(), `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
}

func TestOpenPostgresUsesABoundedPool(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t, store.Postgres)
	if db.Dialect != store.Postgres {
		t.Fatalf("dialect = %s", db.Dialect)
	}
	if got := db.SQL.Stats().MaxOpenConnections; got <= 1 {
		t.Errorf("MaxOpenConnections = %d, want a pool", got)
	}
	// Several connections at once really come from the pool.
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.SQL.ExecContext(ctx, `SELECT pg_sleep(0.05)`); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if open := db.SQL.Stats().OpenConnections; open < 2 {
		t.Errorf("OpenConnections = %d after 5 concurrent queries, want a pool", open)
	}
}

func TestOpenFailsFastOnUnreachablePostgres(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
}

// TestOpenSQLiteInMemory: ":memory:" is one database, not one per pooled
// connection, so a migrated in-memory store keeps its tables.
func TestOpenSQLiteInMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if got := db.SQL.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("MaxOpenConnections = %d: a second connection would see an empty database", got)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.InTx(ctx, func(tx *sql.Tx) error { return putSetting(ctx, tx, strconv.Itoa(i), "v") }); err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings`).Scan(&n); err != nil || n != 4 {
		t.Errorf("settings rows = %d (%v), want 4", n, err)
	}
}
