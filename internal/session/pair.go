package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// pairRequests are the rendezvous of POST /sessions/{id}/pair-code: the API
// cannot call the provider (the worker may be another process), so it
// stores a request with the command, and waits for the worker to fill in
// the code or an error.
type pairRequests struct {
	db *store.DB
}

// create records a request for a tenant's session and writes the command,
// both through the session aggregate so the session also starts.
func (p *pairRequests) create(ctx context.Context, sessions *Store, tenantID, sessionID, phone string, now time.Time) (string, error) {
	id := eventlog.NewID()
	err := p.db.InTx(ctx, func(tx *sql.Tx) error {
		sess, err := sessions.lockSession(ctx, tx, tenantID, sessionID)
		if err != nil {
			return err
		}
		if err := sess.RequestPairCode(id, phone, now); err != nil {
			return err
		}
		cmd := sess.commands[len(sess.commands)-1].(PairCode)
		// Old answers nobody collected (the caller gave up) are swept here.
		if _, err := tx.ExecContext(ctx, `DELETE FROM session_pair_requests WHERE created_at < $1`,
			now.Add(-time.Hour).UnixMilli()); err != nil {
			return fmt.Errorf("sweep pair requests: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_pair_requests (id, tenant_id, session_id, phone, created_at)
			VALUES ($1, $2, $3, $4, $5)`, id, tenantID, sessionID, cmd.Phone, now.UnixMilli()); err != nil {
			return fmt.Errorf("insert pair request: %w", err)
		}
		return sessions.save(ctx, tx, sess)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// answer stores the worker's code or error; the first answer wins.
func (p *pairRequests) answer(ctx context.Context, tenantID, requestID, code, errMsg string) error {
	if _, err := p.db.SQL.ExecContext(ctx, `UPDATE session_pair_requests SET code = $3, error = $4
		WHERE tenant_id = $1 AND id = $2 AND code = '' AND error = ''`, tenantID, requestID, code, errMsg); err != nil {
		return fmt.Errorf("answer pair request %s: %w", requestID, err)
	}
	return nil
}

// wait polls for the answer until ctx ends, then removes the request.
func (p *pairRequests) wait(ctx context.Context, tenantID, requestID string, every time.Duration) (string, error) {
	defer p.db.SQL.ExecContext(context.WithoutCancel(ctx), `DELETE FROM session_pair_requests
		WHERE tenant_id = $1 AND id = $2`, tenantID, requestID)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var code, errMsg string
		err := p.db.SQL.QueryRowContext(ctx, `SELECT code, error FROM session_pair_requests
			WHERE tenant_id = $1 AND id = $2`, tenantID, requestID).Scan(&code, &errMsg)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return "", ErrPairCodeTimeout
		case ctx.Err() != nil:
			return "", ErrPairCodeTimeout
		case err != nil:
			return "", fmt.Errorf("poll pair request %s: %w", requestID, err)
		case errMsg != "":
			return "", pairError(errMsg)
		case code != "":
			return code, nil
		}
		select {
		case <-ctx.Done():
			return "", ErrPairCodeTimeout
		case <-t.C:
		}
	}
}

// Pair errors the worker reports, by stable code.
const (
	pairErrConnected = "already_connected"
	pairErrFailed    = "failed"
	pairErrProvider  = "unsupported"
)

func pairError(code string) error {
	switch code {
	case pairErrConnected:
		return ErrAlreadyConnected
	case pairErrProvider:
		return ErrProviderUnsupported
	default:
		return ErrPairCodeFailed
	}
}
