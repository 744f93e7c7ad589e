package store_test

import (
	"context"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
)

// openEmpty opens a fresh, unmigrated database.
func openEmpty(t *testing.T, d store.Dialect, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, d store.Dialect) []string {
	t.Helper()
	ms, err := store.Migrations(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

func TestMigrationsExistForBothDialects(t *testing.T) {
	t.Parallel()
	sqlite, pg := versions(t, store.SQLite), versions(t, store.Postgres)
	if len(sqlite) == 0 {
		t.Fatal("no embedded migrations")
	}
	if !slices.Equal(sqlite, pg) {
		t.Errorf("every migration needs both dialects:\n sqlite   %v\n postgres %v", sqlite, pg)
	}
	name := regexp.MustCompile(`^\d{3}_[a-z0-9_]+$`)
	seen := map[string]string{}
	for _, v := range sqlite {
		if !name.MatchString(v) {
			t.Errorf("migration %q is not named NNN_name", v)
		}
		if prev, dup := seen[v[:3]]; dup {
			t.Errorf("migrations %s and %s share number %s", prev, v, v[:3])
		}
		seen[v[:3]] = v
	}
	if !slices.IsSorted(sqlite) {
		t.Errorf("migrations out of order: %v", sqlite)
	}
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openEmpty(t, d, testenv.DatabaseURL(t, d))
			first, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			if want := versions(t, d); !slices.Equal(first, want) {
				t.Fatalf("first Migrate applied %v, want %v", first, want)
			}
			// Data written between runs survives the second run.
			if _, err := db.SQL.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)`, "k", "v", 1); err != nil {
				t.Fatal(err)
			}
			second, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if len(second) != 0 {
				t.Errorf("second Migrate applied %v, want nothing", second)
			}
			var n int
			if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != len(first) {
				t.Errorf("schema_migrations has %d rows, want %d", n, len(first))
			}
			var v string
			if err := db.SQL.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, "k").Scan(&v); err != nil || v != "v" {
				t.Errorf("data lost across Migrate: %q, %v", v, err)
			}
		})
	}
}

// TestConcurrentMigrateOnPostgres runs four migrators on one empty database,
// each with its own pool as separate `wagate migrate` processes would: the
// advisory lock lets exactly one apply each version.
func TestConcurrentMigrateOnPostgres(t *testing.T) {
	t.Parallel()
	url := testenv.PostgresURL(t)
	const runners = 4
	dbs := make([]*store.DB, runners)
	for i := range dbs {
		dbs[i] = openEmpty(t, store.Postgres, url)
	}
	var wg sync.WaitGroup
	applied := make([][]string, runners)
	errs := make([]error, runners)
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = db.Migrate(context.Background())
		}()
	}
	wg.Wait()
	var all []string
	for i := range runners {
		if errs[i] != nil {
			t.Errorf("migrator %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if want := versions(t, store.Postgres); !slices.Equal(all, want) {
		t.Errorf("versions applied across migrators %v, want each of %v exactly once", all, want)
	}
	// The lock was released: a fifth run gets it and has nothing to do.
	again, err := dbs[0].Migrate(context.Background())
	if err != nil || len(again) != 0 {
		t.Errorf("Migrate after the concurrent runs: %v, %v", again, err)
	}
}
