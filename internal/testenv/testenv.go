// Package testenv gives tests real servers: a fresh PostgreSQL database per
// test, a Redis key prefix per test and a migrated SQLite file. When a server
// is unreachable a test is skipped — unless CI=true, where it fails, so a
// broken CI machine can never pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/store"
)

// DefaultPostgresURL and DefaultRedisURL are the local servers used when
// WAGATE_TEST_DATABASE_URL / WAGATE_TEST_REDIS_URL are unset.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// Unavailable skips the test, or fails it under CI=true.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this a failure): %v", what, err)
}

// PostgresAdminURL is the server tests create their databases on.
func PostgresAdminURL() string {
	if u := os.Getenv("WAGATE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RedisURL is the Redis server tests use.
func RedisURL() string {
	if u := os.Getenv("WAGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

func admin() (*sql.DB, error) {
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", PostgresAdminURL())
		if adminErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adminErr = adminDB.PingContext(ctx)
	})
	return adminDB, adminErr
}

// PostgresURL returns the URL of an empty PostgreSQL schema of its own for
// this test: the URL sets search_path, so everything the test creates lands
// in that schema. A schema is created in milliseconds where a database takes
// seconds, which keeps the suite fast; it is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	db, err := admin()
	if err != nil {
		Unavailable(t, "PostgreSQL at "+PostgresAdminURL(), err)
	}
	name := "wagate_t_" + randomHex(8)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Logf("drop test schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(PostgresAdminURL())
	if err != nil {
		t.Fatalf("parse WAGATE_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLitePath returns a database file path in the test's temporary directory.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "wagate.db")
}

// Dialects lists the dialects every store contract suite runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// DatabaseURL returns a fresh, empty database of the given dialect.
func DatabaseURL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.Postgres {
		return PostgresURL(t)
	}
	return SQLitePath(t)
}

// OpenDB opens a fresh, migrated database of the given dialect, closed when
// the test ends.
func OpenDB(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), DatabaseURL(t, d))
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// Redis returns a client for the test Redis and a key prefix unique to this
// test; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("parse WAGATE_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		Unavailable(t, "Redis at "+RedisURL(), err)
	}
	prefix := "wagate-test-" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		client.Close()
	})
	return client, prefix
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("random: %v", err))
	}
	return hex.EncodeToString(b)
}
