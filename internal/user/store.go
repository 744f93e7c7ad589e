package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// The SQL of the user context, written once for SQLite and PostgreSQL.
// Lookups by email and by token digest are the only queries not keyed by a
// tenant id: they are how an anonymous caller becomes one.

// querier is what both *sql.DB and *sql.Tx offer, so reads work inside and
// outside transactions.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const userColumns = `id, email, password_hash, status, created_at, updated_at, verified_at, password_changed_at`

func scanUser(row *sql.Row) (*User, error) {
	var (
		id, email, hash, status                 string
		createdAt, updatedAt, passwordChangedAt int64
		verifiedAt                              sql.NullInt64
	)
	if err := row.Scan(&id, &email, &hash, &status, &createdAt, &updatedAt, &verifiedAt, &passwordChangedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return LoadUser(id, email, hash, Status(status), store.FromMillis(createdAt), store.FromMillis(updatedAt),
		store.FromMillis(verifiedAt.Int64), store.FromMillis(passwordChangedAt))
}

func getUser(ctx context.Context, q querier, tenantID string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, tenantID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("load user %s: %w", tenantID, err)
	}
	return u, err
}

func findUserByEmail(ctx context.Context, q querier, email string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("find user by email: %w", err)
	}
	return u, err
}

// insertUser stores a new user and its events. It reports false, and writes
// nothing, when the email is already taken.
func insertUser(ctx context.Context, tx *sql.Tx, u *User) (bool, error) {
	var id string
	err := tx.QueryRowContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (email) DO NOTHING RETURNING id`,
		u.id, u.email, u.passwordHash, string(u.status), store.Millis(u.createdAt), store.Millis(u.updatedAt),
		nullMillis(u.verifiedAt), store.Millis(u.passwordChangedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert user: %w", err)
	}
	return true, appendEvents(ctx, tx, u)
}

// saveUser writes the user's state and its recorded events in one
// transaction.
func saveUser(ctx context.Context, tx *sql.Tx, u *User) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2, status = $3, updated_at = $4,
		verified_at = $5, password_changed_at = $6 WHERE id = $1`,
		u.id, u.passwordHash, string(u.status), store.Millis(u.updatedAt), nullMillis(u.verifiedAt), store.Millis(u.passwordChangedAt))
	if err != nil {
		return fmt.Errorf("save user %s: %w", u.id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("save user %s: %w", u.id, ErrNotFound)
	}
	return appendEvents(ctx, tx, u)
}

func appendEvents(ctx context.Context, tx *sql.Tx, u *User) error {
	events := u.PopEvents()
	if len(events) == 0 {
		return nil
	}
	envs := make([]eventlog.Envelope, 0, len(events))
	for _, e := range events {
		env, err := eventlog.NewEnvelope(ctx, u.id, "", e)
		if err != nil {
			return err
		}
		envs = append(envs, env)
	}
	return eventlog.Append(ctx, tx, eventlog.DomainEvents, envs...)
}

func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// tokenPurpose says what a one-time token proves.
type tokenPurpose string

const (
	purposeVerify tokenPurpose = "verify"
	purposeReset  tokenPurpose = "reset"
)

// ErrInvalidToken answers every verification or reset token that cannot be
// used: unknown, expired or already used alike.
var ErrInvalidToken = apperr.Invalid("invalid-token", "the token is invalid, expired or already used")

// issueToken creates a one-time token and stores its digest.
func issueToken(ctx context.Context, tx *sql.Tx, userID string, p tokenPurpose, now time.Time, ttl time.Duration) (string, error) {
	token, digest, err := NewSecret()
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, digest, userID, string(p), now.UnixMilli(), now.Add(ttl).UnixMilli()); err != nil {
		return "", fmt.Errorf("store %s token: %w", p, err)
	}
	return token, nil
}

// tokenUsable reports, without spending it, whether a token could be
// consumed now: a cheap check before expensive work such as hashing a
// password.
func tokenUsable(ctx context.Context, q querier, token string, p tokenPurpose, now time.Time) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_tokens
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`,
		Digest(token), string(p), now.UnixMilli()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check %s token: %w", p, err)
	}
	return n == 1, nil
}

// consumeToken spends a token and returns its user. The single UPDATE makes
// it atomic: of two concurrent uses, exactly one wins.
func consumeToken(ctx context.Context, tx *sql.Tx, token string, p tokenPurpose, now time.Time) (string, error) {
	var userID string
	err := tx.QueryRowContext(ctx, `UPDATE user_tokens SET used_at = $1
		WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
		RETURNING user_id`, now.UnixMilli(), Digest(token), string(p)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrInvalidToken
	}
	if err != nil {
		return "", fmt.Errorf("consume %s token: %w", p, err)
	}
	return userID, nil
}

// spendAllTokens makes every outstanding token of a purpose unusable, e.g.
// the other verification links once the email is verified.
func spendAllTokens(ctx context.Context, tx *sql.Tx, userID string, p tokenPurpose, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1
		WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`, now.UnixMilli(), userID, string(p)); err != nil {
		return fmt.Errorf("spend %s tokens of %s: %w", p, userID, err)
	}
	return nil
}
