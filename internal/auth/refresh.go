package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/user"
)

// ErrInvalidRefreshToken answers every refresh token that cannot be used:
// unknown, expired, spent or revoked alike.
var ErrInvalidRefreshToken = apperr.Unauthorized("invalid-refresh-token", "the refresh token is invalid, expired or revoked")

// errRefreshReused marks a spent or revoked token presented again: someone
// holds a copy, so the whole family dies.
var errRefreshReused = errors.New("refresh token reused")

// A refresh token family is one login: the token the login issued and every
// successor obtained by rotation. At most one member is live at a time.

// createRefresh stores a new live token in family and returns it.
func createRefresh(ctx context.Context, tx *sql.Tx, userID, familyID string, now time.Time, ttl time.Duration) (string, error) {
	token, digest, err := user.NewSecret()
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		eventlog.NewID(), familyID, userID, digest, now.UnixMilli(), now.Add(ttl).UnixMilli()); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return token, nil
}

// spent is what spendRefresh learned about a token it spent.
type spent struct {
	userID   string
	familyID string
}

// spendRefresh marks a live token used and returns its user and family. A
// single conditional UPDATE makes it atomic: of two concurrent refreshes
// with one token exactly one wins, and the loser is treated as a reuse. A
// token that was already spent gives errRefreshReused with the family to
// revoke.
func spendRefresh(ctx context.Context, tx *sql.Tx, token string, now time.Time) (spent, error) {
	digest := user.Digest(token)
	var s spent
	err := tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
		RETURNING user_id, family_id`, now.UnixMilli(), digest).Scan(&s.userID, &s.familyID)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return spent{}, fmt.Errorf("spend refresh token: %w", err)
	}
	var usedAt sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT user_id, family_id, used_at FROM refresh_tokens WHERE token_hash = $1`,
		digest).Scan(&s.userID, &s.familyID, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return spent{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return spent{}, fmt.Errorf("look up refresh token: %w", err)
	}
	if usedAt.Valid {
		return s, errRefreshReused
	}
	// Revoked but never spent (logout, password reset, suspension, or a
	// family already killed by a reuse): the family is dead already, and it
	// is no theft alarm. Otherwise the token simply expired.
	return spent{}, ErrInvalidRefreshToken
}

// revokeFamily kills every token of one login.
func revokeFamily(ctx context.Context, tx *sql.Tx, userID, familyID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1
		WHERE user_id = $2 AND family_id = $3 AND revoked_at IS NULL`, now.UnixMilli(), userID, familyID); err != nil {
		return fmt.Errorf("revoke refresh family %s: %w", familyID, err)
	}
	return nil
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// familyOf finds the user and family of a token, if it exists.
func familyOf(ctx context.Context, q queryRower, token string) (spent, bool, error) {
	var s spent
	err := q.QueryRowContext(ctx, `SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1`,
		user.Digest(token)).Scan(&s.userID, &s.familyID)
	if errors.Is(err, sql.ErrNoRows) {
		return spent{}, false, nil
	}
	if err != nil {
		return spent{}, false, fmt.Errorf("look up refresh token: %w", err)
	}
	return s, true, nil
}

// SessionRevoker revokes every refresh token of a user. It implements
// user.SessionRevoker, so a password reset logs out everywhere in its own
// transaction; it needs no state, so the user service can have one before
// the auth service exists.
type SessionRevoker struct{}

var _ user.SessionRevoker = SessionRevoker{}

// RevokeAllSessions revokes every live refresh token of userID in tx.
func (SessionRevoker) RevokeAllSessions(ctx context.Context, tx *sql.Tx, userID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $1
		WHERE user_id = $2 AND revoked_at IS NULL`, now.UnixMilli(), userID); err != nil {
		return fmt.Errorf("revoke refresh tokens of %s: %w", userID, err)
	}
	return nil
}
