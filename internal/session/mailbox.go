package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
)

// A command for a session must run on the worker that owns the session
// (holds its lease): only that worker has the session's client. The event
// log hands each command to some worker of the group, so a worker that gets
// a command for a session another live worker runs parks it in the session
// mailbox, and the owner picks it up within MailboxInterval.

// maxMailboxAttempts bounds how often the owner retries a parked command.
const maxMailboxAttempts = 5

// Routed wraps a session-commands subscription so each command runs on the
// worker that owns its session: here when this worker runs the session or
// nobody does (the handler may then start it), else on the live owner via
// the mailbox. Other contexts that act through a session's client (e.g.
// sending messages) wrap their worker subscriptions with it.
func (m *Manager) Routed(sub eventlog.Subscription) eventlog.Subscription {
	h := sub.Handler
	m.mu.Lock()
	m.routes[sub.Name] = h
	m.mu.Unlock()
	name := sub.Name
	sub.Handler = func(ctx context.Context, env eventlog.Envelope) error {
		if env.SessionID == "" || m.get(env.SessionID) != nil {
			return h(ctx, env)
		}
		owner, err := m.leases.holder(ctx, env.SessionID)
		if err != nil {
			return err
		}
		if owner == "" || owner == m.cfg.WorkerID {
			return h(ctx, env)
		}
		return m.forward(ctx, name, env)
	}
	return sub
}

// forward parks a command for the session's owner.
func (m *Manager) forward(ctx context.Context, subscriber string, env eventlog.Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode forwarded %s: %w", env.Type, err)
	}
	if _, err := m.store.DB().SQL.ExecContext(ctx, `INSERT INTO session_mailbox
		(subscriber, tenant_id, session_id, envelope, trace_parent, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		subscriber, env.TenantID, env.SessionID, string(b), env.TraceParent, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("forward %s to the session's owner: %w", env.Type, err)
	}
	m.log.Debug("command forwarded to the session's owner", "type", env.Type, "session", env.SessionID)
	return nil
}

type parked struct {
	seq        int64
	subscriber string
	attempts   int
	env        eventlog.Envelope
}

// drainMailbox runs the commands parked for sessions this worker owns, in
// order, and sweeps commands nobody collected within an hour.
func (m *Manager) drainMailbox(ctx context.Context) {
	db := m.store.DB().SQL
	if _, err := db.ExecContext(ctx, `DELETE FROM session_mailbox WHERE created_at < $1`,
		time.Now().Add(-time.Hour).UnixMilli()); err != nil && ctx.Err() == nil {
		m.log.Warn("sweep session mailbox", "error", err)
	}
	items, err := m.mailboxItems(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("read session mailbox", "error", err)
		}
		return
	}
	for _, it := range items {
		m.mu.Lock()
		h := m.routes[it.subscriber]
		m.mu.Unlock()
		var herr error
		if h == nil {
			herr = errors.New("no handler on this worker")
		} else {
			herr = h(it.env.Context(ctx), it.env)
		}
		if herr != nil && it.attempts+1 < maxMailboxAttempts {
			_, err = db.ExecContext(ctx, `UPDATE session_mailbox SET attempts = attempts + 1 WHERE seq = $1`, it.seq)
		} else {
			if herr != nil {
				m.log.Error("forwarded command failed; dropping it", "type", it.env.Type,
					"session", it.env.SessionID, "subscriber", it.subscriber, "error", herr)
			}
			_, err = db.ExecContext(ctx, `DELETE FROM session_mailbox WHERE seq = $1`, it.seq)
		}
		if err != nil && ctx.Err() == nil {
			m.log.Warn("update session mailbox", "error", err)
		}
	}
}

func (m *Manager) mailboxItems(ctx context.Context) ([]parked, error) {
	rows, err := m.store.DB().SQL.QueryContext(ctx, `SELECT b.seq, b.subscriber, b.attempts, b.envelope, b.trace_parent
		FROM session_mailbox b JOIN session_leases l ON l.session_id = b.session_id
		WHERE l.owner = $1 ORDER BY b.seq LIMIT 100`, m.cfg.WorkerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parked
	for rows.Next() {
		var it parked
		var raw, trace string
		if err := rows.Scan(&it.seq, &it.subscriber, &it.attempts, &raw, &trace); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &it.env); err != nil {
			m.log.Error("undecodable forwarded command", "seq", it.seq, "error", err)
			continue
		}
		it.env.TraceParent = trace
		out = append(out, it)
	}
	return out, rows.Err()
}

// holder returns the live owner of a session's lease, "" when none.
func (l *leases) holder(ctx context.Context, sessionID string) (string, error) {
	var owner string
	var expires int64
	err := l.db.SQL.QueryRowContext(ctx, `SELECT owner, expires_at FROM session_leases WHERE session_id = $1`,
		sessionID).Scan(&owner, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read lease of session %s: %w", sessionID, err)
	}
	if expires < time.Now().UnixMilli() {
		return "", nil
	}
	return owner, nil
}
