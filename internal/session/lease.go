package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/store"
)

// leases is the ownership table: a worker runs a session only while it
// holds the session's lease, and renews its leases while it is alive. A
// lease that is not renewed expires and another worker may take it.
type leases struct {
	db    *store.DB
	owner string
	ttl   time.Duration
}

// acquire takes or renews the lease of a session. It returns false when
// another owner holds an unexpired lease.
func (l *leases) acquire(ctx context.Context, sessionID string) (bool, error) {
	now := time.Now()
	var owner string
	err := l.db.SQL.QueryRowContext(ctx, `INSERT INTO session_leases (session_id, owner, expires_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE session_leases.owner = excluded.owner OR session_leases.expires_at < $4
		RETURNING owner`, sessionID, l.owner, now.Add(l.ttl).UnixMilli(), now.UnixMilli()).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease of session %s: %w", sessionID, err)
	}
	return owner == l.owner, nil
}

// renew extends every lease of this owner and returns the sessions it still
// holds (a lease that expired and was taken over is no longer among them).
func (l *leases) renew(ctx context.Context) (map[string]bool, error) {
	if _, err := l.db.SQL.ExecContext(ctx, `UPDATE session_leases SET expires_at = $1 WHERE owner = $2`,
		time.Now().Add(l.ttl).UnixMilli(), l.owner); err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	rows, err := l.db.SQL.QueryContext(ctx, `SELECT session_id FROM session_leases WHERE owner = $1`, l.owner)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	held := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		held[id] = true
	}
	return held, rows.Err()
}

// release gives a lease up, if this owner holds it.
func (l *leases) release(ctx context.Context, sessionID string) error {
	if _, err := l.db.SQL.ExecContext(ctx, `DELETE FROM session_leases WHERE session_id = $1 AND owner = $2`,
		sessionID, l.owner); err != nil {
		return fmt.Errorf("release lease of session %s: %w", sessionID, err)
	}
	return nil
}
