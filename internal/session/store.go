package session

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// Store keeps sessions in the database (SQLite or PostgreSQL) and writes
// their events and worker commands to the outbox in the same transaction.
// Every query a tenant can reach is scoped by tenant.
type Store struct {
	db *store.DB
}

// NewStore returns a store over db.
func NewStore(db *store.DB) *Store {
	return &Store{db: db}
}

// DB is the database the store writes to (providers keep their own tables
// in the same database).
func (s *Store) DB() *store.DB { return s.db }

const sessionColumns = `id, tenant_id, name, provider, status, phone, disconnect_reason,
	qr, qr_expires_at, want_running, created_at, updated_at, deleted_at`

// Create saves a new session with its events and commands. Each also
// function writes in the same transaction (a provider's settings).
func (s *Store) Create(ctx context.Context, sess *Session, also ...func(context.Context, *sql.Tx, *Session) error) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		v := sess.Snapshot()
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			v.ID, v.TenantID, v.Name, v.Provider, string(v.Status), v.Phone, string(v.Reason),
			v.QR, store.Millis(v.QRExpiresAt), boolInt(v.WantRunning),
			store.Millis(v.CreatedAt), store.Millis(v.UpdatedAt), store.Millis(v.DeletedAt)); err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.Conflict("session-exists", "a session with this id already exists")
			}
			return fmt.Errorf("insert session %s: %w", v.ID, err)
		}
		for _, fn := range also {
			if fn == nil {
				continue
			}
			if err := fn(ctx, tx, sess); err != nil {
				return err
			}
		}
		return appendRecorded(ctx, tx, sess)
	})
}

// Get returns a tenant's session; deleted sessions and other tenants'
// sessions are ErrNotFound.
func (s *Store) Get(ctx context.Context, tenantID, id string) (*Session, error) {
	row := s.db.SQL.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE tenant_id = $1 AND id = $2 AND deleted_at = 0`, tenantID, id)
	sess, err := scanSession(row)
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// Page is one page of a list.
type Page struct {
	// Limit is the page size (1–200, default 50).
	Limit int
	// Cursor is the NextCursor of the previous page, empty for the first.
	Cursor string
}

// ErrInvalidCursor is a cursor this API did not produce.
var ErrInvalidCursor = apperr.Invalid("invalid-cursor", "cursor is not valid")

// List returns a tenant's sessions, newest first, and the cursor of the next
// page ("" on the last page).
func (s *Store) List(ctx context.Context, tenantID string, p Page) ([]*Session, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		limit = 200
	}
	after := "\U0010FFFF" // sorts after every id
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || len(b) == 0 {
			return nil, "", ErrInvalidCursor
		}
		after = string(b)
	}
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE tenant_id = $1 AND deleted_at = 0 AND id < $2 ORDER BY id DESC LIMIT $3`,
		tenantID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(out[limit-1].ID()))
	}
	return out, next, nil
}

// Update loads a tenant's session, lets fn change it and saves it with the
// events and commands fn recorded, all in one transaction. When fn returns an
// error nothing is written and the error is returned unchanged.
func (s *Store) Update(ctx context.Context, tenantID, id string, fn func(*Session) error) (*Session, error) {
	var sess *Session
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		sess, err = s.lockSession(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		before := sess.Snapshot()
		if err := fn(sess); err != nil {
			return err
		}
		if sess.Snapshot() == before && len(sess.events) == 0 && len(sess.commands) == 0 {
			return nil // nothing changed: no write (the worker repeats idempotent updates)
		}
		return s.save(ctx, tx, sess)
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *Store) lockSession(ctx context.Context, tx *sql.Tx, tenantID, id string) (*Session, error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions WHERE tenant_id = $1 AND id = $2 AND deleted_at = 0`
	if s.db.Dialect == store.Postgres {
		q += ` FOR UPDATE` // SQLite transactions already hold the write lock (BEGIN IMMEDIATE)
	}
	sess, err := scanSession(tx.QueryRowContext(ctx, q, tenantID, id))
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", id, err)
	}
	return sess, nil
}

func (s *Store) save(ctx context.Context, tx *sql.Tx, sess *Session) error {
	v := sess.Snapshot()
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET name = $3, status = $4, phone = $5,
		disconnect_reason = $6, qr = $7, qr_expires_at = $8, want_running = $9, updated_at = $10,
		deleted_at = $11 WHERE tenant_id = $1 AND id = $2`,
		v.TenantID, v.ID, v.Name, string(v.Status), v.Phone, string(v.Reason), v.QR,
		store.Millis(v.QRExpiresAt), boolInt(v.WantRunning), store.Millis(v.UpdatedAt),
		store.Millis(v.DeletedAt)); err != nil {
		return fmt.Errorf("save session %s: %w", v.ID, err)
	}
	return appendRecorded(ctx, tx, sess)
}

// appendRecorded writes the session's pending events to domain-events and
// its pending commands to session-commands.
func appendRecorded(ctx context.Context, tx *sql.Tx, sess *Session) error {
	if err := appendAll(ctx, tx, eventlog.DomainEvents, sess, sess.PopEvents()); err != nil {
		return err
	}
	return appendAll(ctx, tx, eventlog.SessionCommands, sess, sess.PopCommands())
}

func appendAll(ctx context.Context, tx *sql.Tx, stream string, sess *Session, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	envs := make([]eventlog.Envelope, 0, len(evs))
	for _, e := range evs {
		env, err := eventlog.NewEnvelope(ctx, sess.TenantID(), sess.ID(), e)
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	return eventlog.Append(ctx, tx, stream, envs...)
}

// AppendCommand writes a worker command for a tenant's live session, or
// returns ErrNotFound. Other contexts (simulator controls, messaging) use it
// to reach the worker through the outbox.
func (s *Store) AppendCommand(ctx context.Context, tenantID, id string, cmd Event) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions
			WHERE tenant_id = $1 AND id = $2 AND deleted_at = 0`, tenantID, id).Scan(&n); err != nil {
			return fmt.Errorf("check session %s: %w", id, err)
		}
		if n == 0 {
			return ErrNotFound
		}
		env, err := eventlog.NewEnvelope(ctx, tenantID, id, cmd)
		if err != nil {
			return err
		}
		return eventlog.Append(ctx, tx, eventlog.SessionCommands, env)
	})
}

// Restorable lists, across all tenants, the sessions worker owner should
// run (see Session.Restorable), leaving out those another worker holds a
// live lease on. Only the worker calls it.
func (s *Store) Restorable(ctx context.Context, owner string, now time.Time) ([]*Session, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+prefixed("s.", sessionColumns)+`
		FROM sessions s LEFT JOIN session_leases l ON l.session_id = s.id
		WHERE s.want_running = 1 AND s.deleted_at = 0
		AND (l.owner IS NULL OR l.owner = $1 OR l.expires_at < $2)
		ORDER BY s.id`, owner, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list restorable sessions: %w", err)
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list restorable sessions: %w", err)
		}
		if sess.Restorable() {
			out = append(out, sess)
		}
	}
	return out, rows.Err()
}

// Purge removes a session and its pairing records for good; the worker
// calls it after unlinking the device of a deleted session.
func (s *Store) Purge(ctx context.Context, tenantID, id string) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM session_pair_requests WHERE tenant_id = $1 AND session_id = $2`,
			`DELETE FROM session_devices WHERE tenant_id = $1 AND session_id = $2`,
			`DELETE FROM sessions WHERE tenant_id = $1 AND id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, tenantID, id); err != nil {
				return fmt.Errorf("purge session %s: %w", id, err)
			}
		}
		return nil
	})
}

// GetAny returns a tenant's session even when it is deleted (the worker
// needs its provider to unlink the device).
func (s *Store) GetAny(ctx context.Context, tenantID, id string) (*Session, error) {
	row := s.db.SQL.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	sess, err := scanSession(row)
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

type scanner interface{ Scan(dest ...any) error }

func scanSession(row scanner) (*Session, error) {
	var v Snapshot
	var status, reason string
	var qrExp, created, updated, deleted int64
	var want int
	if err := row.Scan(&v.ID, &v.TenantID, &v.Name, &v.Provider, &status, &v.Phone, &reason,
		&v.QR, &qrExp, &want, &created, &updated, &deleted); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	v.Status = Status(status)
	v.Reason = ParseDisconnectReason(reason)
	v.QRExpiresAt = store.FromMillis(qrExp)
	v.WantRunning = want != 0
	v.CreatedAt, v.UpdatedAt, v.DeletedAt = store.FromMillis(created), store.FromMillis(updated), store.FromMillis(deleted)
	return UnmarshalSessionFromDatabase(v), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
