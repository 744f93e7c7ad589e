package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/wagate/wagate/internal/store"
)

// env owns the servers and everything the run creates on them.
type env struct {
	adminURL string
	admin    *sql.DB
	rdb      *redis.Client
	tmp      string
	dbs      []string
	prefixes []string
	closers  []func()
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newEnv() *env {
	e := &env{adminURL: getenv("WAGATE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")}
	var err error
	if e.admin, err = sql.Open("pgx", e.adminURL); err != nil {
		fatal("open postgres: %v", err)
	}
	if err := e.admin.Ping(); err != nil {
		fatal("postgres at %s: %v", e.adminURL, err)
	}
	opts, err := redis.ParseURL(getenv("WAGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		fatal("redis url: %v", err)
	}
	opts.PoolSize = 64
	e.rdb = redis.NewClient(opts)
	if err := e.rdb.Ping(context.Background()).Err(); err != nil {
		fatal("redis: %v", err)
	}
	if e.tmp, err = os.MkdirTemp("", "wagate-bench-"); err != nil {
		fatal("temp dir: %v", err)
	}
	return e
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// postgresURL creates an empty database and returns its URL.
func (e *env) postgresURL() string {
	name := "wagate_bench_" + randomHex(6)
	if _, err := e.admin.Exec("CREATE DATABASE " + name); err != nil {
		fatal("create database: %v", err)
	}
	e.dbs = append(e.dbs, name)
	u, _ := url.Parse(e.adminURL)
	u.Path = "/" + name
	return u.String()
}

// openDB opens a fresh migrated wagate database of the dialect.
func (e *env) openDB(d store.Dialect) *store.DB {
	u := filepath.Join(e.tmp, randomHex(6)+".db")
	if d == store.Postgres {
		u = e.postgresURL()
	}
	db, err := store.Open(context.Background(), u)
	if err != nil {
		fatal("open %s: %v", d, err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		fatal("migrate %s: %v", d, err)
	}
	e.closers = append(e.closers, func() { db.Close() })
	return db
}

func (e *env) prefix() string {
	p := "wagate-bench-" + randomHex(4) + ":"
	e.prefixes = append(e.prefixes, p)
	return p
}

func (e *env) pgVersion(ctx context.Context) string {
	var v string
	_ = e.admin.QueryRowContext(ctx, "SHOW server_version").Scan(&v)
	return v
}

func (e *env) redisVersion(ctx context.Context) string {
	info, _ := e.rdb.Info(ctx, "server").Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	ctx := context.Background()
	for _, p := range e.prefixes {
		iter := e.rdb.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			e.rdb.Del(ctx, iter.Val())
		}
	}
	for _, name := range e.dbs {
		_, _ = e.admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	}
	os.RemoveAll(e.tmp)
	e.rdb.Close()
	e.admin.Close()
}
