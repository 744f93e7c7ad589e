// Package store opens wagate's database — SQLite (embedded mode) or
// PostgreSQL (distributed mode) — applies its migrations and runs
// transactions. Both dialects are reached through database/sql so every
// bounded context writes its queries once; the SQL both dialects share uses
// $N placeholders, ON CONFLICT and RETURNING, and times are stored as
// unix milliseconds (BIGINT) so comparisons behave the same everywhere.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wagate/wagate/internal/config"
)

// Dialect names the SQL database behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database with its dialect.
type DB struct {
	// SQL is the connection pool. Queries outside a transaction use it directly.
	SQL *sql.DB
	// Dialect tells the few places that need dialect-specific SQL which to use.
	Dialect Dialect
	// URL is the address the database was opened with (pgx needs it for
	// LISTEN/NOTIFY connections outside the pool).
	URL string

	// commitHooks run after every transaction InTx commits; the embedded
	// event log uses one to wake its consumers without polling.
	hooksMu     sync.Mutex
	commitHooks []func()
}

// AfterCommit registers fn to run after every transaction InTx commits. fn
// must be quick and must not block (a non-blocking channel send).
func (db *DB) AfterCommit(fn func()) {
	db.hooksMu.Lock()
	defer db.hooksMu.Unlock()
	db.commitHooks = append(db.commitHooks, fn)
}

func (db *DB) runCommitHooks() {
	db.hooksMu.Lock()
	hooks := db.commitHooks
	db.hooksMu.Unlock()
	for _, fn := range hooks {
		fn()
	}
}

// Open connects to the database named by url: a postgres:// URL opens
// PostgreSQL through pgx, anything else is an SQLite file (its directory is
// created). The connection is checked before Open returns.
func Open(ctx context.Context, url string) (*DB, error) {
	var db *DB
	var err error
	if config.IsPostgresURL(url) {
		db, err = openPostgres(url)
	} else {
		db, err = openSQLite(url)
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.SQL.PingContext(pingCtx); err != nil {
		db.SQL.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.Dialect, err)
	}
	return db, nil
}

func openPostgres(url string) (*DB, error) {
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sqlDB.SetMaxOpenConns(20)
	sqlDB.SetMaxIdleConns(10)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{SQL: sqlDB, Dialect: Postgres, URL: url}, nil
}

// openSQLite opens the file in WAL mode with a busy timeout and foreign keys.
// Transactions begin IMMEDIATE: SQLite has one writer at a time, and taking
// the write lock up front turns would-be deadlocks between two read-then-write
// transactions into a short wait. It also means rows commit in the order their
// ids were assigned, which the embedded event log relies on.
func openSQLite(path string) (*DB, error) {
	file := strings.TrimPrefix(path, "file:")
	if i := strings.IndexByte(file, '?'); i >= 0 {
		file = file[:i]
	}
	if file != ":memory:" && file != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	dsn := "file:" + file + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	sqlDB.SetMaxOpenConns(8)
	// Keep every connection open: opening one costs far more than a query
	// (pragmas), and database/sql's default of 2 idle connections closed and
	// reopened them whenever three goroutines queried at once.
	sqlDB.SetMaxIdleConns(8)
	if file == ":memory:" || file == "" {
		// Every connection to :memory: is a database of its own: keep
		// exactly one, forever, or tables vanish between queries.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetConnMaxLifetime(0)
	}
	sqlDB.SetConnMaxIdleTime(0)
	return &DB{SQL: sqlDB, Dialect: SQLite, URL: path}, nil
}

// Close closes the pool.
func (db *DB) Close() error { return db.SQL.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise. SQLite's "database is locked" and PostgreSQL serialization
// failures are retried a few times, since they only mean another writer won.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = db.inTxOnce(ctx, fn)
		if err == nil || !isTransient(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(i+1) * 20 * time.Millisecond)
	}
	return err
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.runCommitHooks()
	return nil
}

func isTransient(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation in
// either dialect; stores translate it into their own conflict errors.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// Millis converts a time to the unix milliseconds stored in *_at columns.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis converts stored unix milliseconds back to a UTC time; 0 is the
// zero time.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
