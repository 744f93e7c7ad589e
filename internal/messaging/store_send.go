package messaging

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

// idempotencyTTL is how long an Idempotency-Key is remembered.
const idempotencyTTL = 24 * time.Hour

// commandGrace is how long a freshly accepted message is left to its
// command before the worker's periodic scan may send it instead.
const commandGrace = 10 * time.Second

// accept stores an outgoing message (pending), its inline media and its
// session.sendMessage command in one transaction. With an idempotency key it
// first claims the key; when the key already exists, the message it created
// is returned (replayed = true) if the request hash matches, and
// ErrIdempotencyKeyReused otherwise.
func (s *Store) accept(ctx context.Context, o *outgoing, key, hash string) (m Message, replayed bool, err error) {
	content, err := json.Marshal(o.content)
	if err != nil {
		return Message{}, false, fmt.Errorf("encode content: %w", err)
	}
	cmd, err := eventlog.NewEnvelope(ctx, o.tenantID, o.sessionID, SendMessageCommand{ID: o.id, ChatJID: o.chatJID})
	if err != nil {
		return Message{}, false, err
	}
	now := s.nowMs()
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		replayed = false
		if key != "" {
			prior, fresh, err := claimKey(ctx, tx, o.tenantID, key, hash, o.id, now)
			if err != nil {
				return err
			}
			if !fresh {
				if prior.hash != hash {
					return ErrIdempotencyKeyReused
				}
				m, err = s.messageQ(ctx, tx, o.tenantID, o.sessionID, prior.messageID)
				if err != nil {
					return fmt.Errorf("load message of idempotency key: %w", err)
				}
				replayed = true
				return nil
			}
		}
		at := o.acceptedAt.UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_messages
			(id, tenant_id, session_id, chat_jid, message_id, direction, status, status_rank, type, content,
			 ts, send_state, next_attempt_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, NULL, $5, $6, 0, $7, $8, $9, $10, $11, $9, $9)`,
			o.id, o.tenantID, o.sessionID, o.chatJID, DirectionOut, StatusPending, o.typ, string(content),
			at, sendWaiting, at+commandGrace.Milliseconds()); err != nil {
			return fmt.Errorf("insert message %s: %w", o.id, err)
		}
		if o.inline != nil {
			if err := putMedia(ctx, tx, o.tenantID, o.id, o.content.Mimetype, o.inline, now); err != nil {
				return err
			}
		}
		return eventlog.Append(ctx, tx, eventlog.SessionCommands, cmd)
	})
	if err != nil {
		return Message{}, false, err
	}
	if replayed {
		return m, true, nil
	}
	return o.message(), false, nil
}

type keyRecord struct {
	hash      string
	messageID string
}

// claimKey inserts an idempotency key, or takes over an expired one. fresh
// is false when a live key exists; prior then describes it. A concurrent
// request with the same key waits for this one's commit (PostgreSQL) or
// for the write lock (SQLite), then sees the key.
func claimKey(ctx context.Context, tx *sql.Tx, tenantID, key, hash, messageID string, now int64) (prior keyRecord, fresh bool, err error) {
	var got string
	err = tx.QueryRowContext(ctx, `INSERT INTO idempotency_keys
		(tenant_id, key, request_hash, message_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = excluded.request_hash,
			message_id = excluded.message_id, created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= $5
		RETURNING message_id`,
		tenantID, key, hash, messageID, now, now+idempotencyTTL.Milliseconds()).Scan(&got)
	if err == nil {
		return keyRecord{}, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return keyRecord{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT request_hash, message_id FROM idempotency_keys
		WHERE tenant_id = $1 AND key = $2`, tenantID, key).Scan(&prior.hash, &prior.messageID)
	if err != nil {
		return keyRecord{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return prior, false, nil
}

// sendJob is a claimed outgoing message, as the worker hands it over.
type sendJob struct {
	id        string
	tenantID  string
	sessionID string
	chatJID   string
	typ       wa.MessageType
	content   wa.Content
	createdAt time.Time
	attempts  int
}

// nextUnsent returns the oldest unsent message of a session, so the worker
// sends a session's messages in the order they were accepted.
func (s *Store) nextUnsent(ctx context.Context, tenantID, sessionID string) (id string, state sendState, claimUntil int64, ok bool, err error) {
	err = s.db.SQL.QueryRowContext(ctx, `SELECT id, send_state, claim_until FROM session_messages
		WHERE tenant_id = $1 AND session_id = $2 AND send_state IN ('waiting', 'sending')
		ORDER BY created_at, id LIMIT 1`, tenantID, sessionID).Scan(&id, &state, &claimUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", 0, false, nil
	}
	if err != nil {
		return "", "", 0, false, fmt.Errorf("next unsent message of session %s: %w", sessionID, err)
	}
	return id, state, claimUntil, true, nil
}

// claim marks a waiting message (or one whose claim lapsed, e.g. its worker
// died) as being sent by this worker until leaseUntil, and records that it
// is being handed to the provider. ok is false when someone else holds it
// or it is already done. The claim commits before the provider is called.
func (s *Store) claim(ctx context.Context, tenantID, id string, leaseUntil time.Time) (sendJob, bool, error) {
	now := s.nowMs()
	j := sendJob{id: id, tenantID: tenantID}
	var typ, content string
	var created int64
	err := s.db.SQL.QueryRowContext(ctx, `UPDATE session_messages SET send_state = 'sending',
			claim_until = $3, handed_at = $4, send_attempts = send_attempts + 1, updated_at = $4
		WHERE tenant_id = $1 AND id = $2
			AND (send_state = 'waiting' OR (send_state = 'sending' AND claim_until < $4))
		RETURNING session_id, chat_jid, type, content, created_at, send_attempts`,
		tenantID, id, leaseUntil.UnixMilli(), now).Scan(&j.sessionID, &j.chatJID, &typ, &content, &created, &j.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return sendJob{}, false, nil
	}
	if err != nil {
		return sendJob{}, false, fmt.Errorf("claim message %s: %w", id, err)
	}
	j.typ, j.createdAt = wa.MessageType(typ), store.FromMillis(created)
	if err := json.Unmarshal([]byte(content), &j.content); err != nil {
		return sendJob{}, false, fmt.Errorf("decode content of message %s: %w", id, err)
	}
	return j, true, nil
}

// park returns a claimed message to waiting until next, remembering why,
// and holds the session's other waiting messages back as long, so a
// disconnected session is not retried message by message.
func (s *Store) park(ctx context.Context, j sendJob, next time.Time, reason FailReason) error {
	now := s.nowMs()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE session_messages SET send_state = 'waiting',
				claim_until = 0, next_attempt_at = $3, send_error = $4, updated_at = $5
			WHERE tenant_id = $1 AND id = $2 AND send_state = 'sending'`,
			j.tenantID, j.id, next.UnixMilli(), string(reason), now); err != nil {
			return fmt.Errorf("park message %s: %w", j.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE session_messages SET next_attempt_at = $3
			WHERE tenant_id = $1 AND session_id = $2 AND send_state IN ('waiting', 'sending')
				AND send_state = 'waiting' AND next_attempt_at < $3`,
			j.tenantID, j.sessionID, next.UnixMilli()); err != nil {
			return fmt.Errorf("hold back messages of session %s: %w", j.sessionID, err)
		}
		return nil
	})
}

// updateContent stores content learned while sending (the size of media
// fetched from a URL).
func (s *Store) updateContent(ctx context.Context, tenantID, id string, c wa.Content) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode content: %w", err)
	}
	if _, err := s.db.SQL.ExecContext(ctx, `UPDATE session_messages SET content = $3
		WHERE tenant_id = $1 AND id = $2`, tenantID, id, string(b)); err != nil {
		return fmt.Errorf("update content of message %s: %w", id, err)
	}
	return nil
}

// recordSent stores the provider's acceptance and appends message.sent in
// the same transaction. Recording twice is a no-op.
func (s *Store) recordSent(ctx context.Context, j sendJob, res wa.SendResult) error {
	ts := res.Timestamp
	if ts.IsZero() {
		ts = s.now()
	}
	ts = ts.UTC().Truncate(time.Millisecond)
	env, err := eventlog.NewEnvelope(ctx, j.tenantID, j.sessionID, wa.MessageSent{
		ID: j.id, MessageID: res.MessageID, ChatJID: j.chatJID, Timestamp: ts})
	if err != nil {
		return err
	}
	now := s.nowMs()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMessage(ctx, tx, j.tenantID, j.sessionID, res.MessageID); err != nil {
			return err
		}
		// The provider may have echoed the message (from-me upsert) before
		// this commit; that row is the same message: drop it, keep its
		// progress.
		status := StatusSent
		rows, err := tx.QueryContext(ctx, `DELETE FROM session_messages
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3 AND chat_jid = $4 AND id <> $5
			RETURNING status`, j.tenantID, j.sessionID, res.MessageID, j.chatJID, j.id)
		if err != nil {
			return fmt.Errorf("merge echo of message %s: %w", j.id, err)
		}
		for rows.Next() {
			var st string
			if err := rows.Scan(&st); err != nil {
				rows.Close()
				return fmt.Errorf("merge echo of message %s: %w", j.id, err)
			}
			status = status.Advance(Status(st))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("merge echo of message %s: %w", j.id, err)
		}
		res2, err := tx.ExecContext(ctx, `UPDATE session_messages SET message_id = $3, status = $4,
				status_rank = $5, ts = $6, send_state = 'done', claim_until = 0, updated_at = $7
			WHERE tenant_id = $1 AND id = $2 AND send_state <> 'done'`,
			j.tenantID, j.id, res.MessageID, status, status.Rank(), ts.UnixMilli(), now)
		if err != nil {
			return fmt.Errorf("record message %s sent: %w", j.id, err)
		}
		if n, err := res2.RowsAffected(); err != nil || n == 0 {
			return err // already recorded
		}
		if err := foldReceipts(ctx, tx, j.tenantID, j.sessionID, []string{res.MessageID}, now); err != nil {
			return err
		}
		return eventlog.Append(ctx, tx, eventlog.DomainEvents, env)
	})
}

// recordFailed marks a message failed with a reason code and appends
// message.failed, if it is still in the send state from (sending when the
// worker gives up, waiting when it timed out unclaimed). It reports whether
// it did.
func (s *Store) recordFailed(ctx context.Context, tenantID, id string, reason FailReason, detail string, from sendState) (bool, error) {
	if len(detail) > 500 {
		detail = detail[:500]
	}
	now := s.nowMs()
	done := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		done = false
		var sessionID, chatJID string
		err := tx.QueryRowContext(ctx, `UPDATE session_messages SET status = 'failed', status_rank = 0,
				error = $3, send_state = 'done', claim_until = 0, updated_at = $4
			WHERE tenant_id = $1 AND id = $2 AND send_state = $5
			RETURNING session_id, chat_jid`,
			tenantID, id, string(reason), now, from).Scan(&sessionID, &chatJID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("record message %s failed: %w", id, err)
		}
		env, err := eventlog.NewEnvelope(ctx, tenantID, sessionID, wa.MessageFailed{
			ID: id, ChatJID: chatJID, Reason: string(reason), Error: detail})
		if err != nil {
			return err
		}
		done = true
		return eventlog.Append(ctx, tx, eventlog.DomainEvents, env)
	})
	return done, err
}

// sessionRef names a session of a tenant.
type sessionRef struct {
	tenantID  string
	sessionID string
}

// dueSessions lists sessions with a parked message due for another try or a
// claim that lapsed (its worker died while sending).
func (s *Store) dueSessions(ctx context.Context, limit int) ([]sessionRef, error) {
	now := s.nowMs()
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT DISTINCT tenant_id, session_id FROM session_messages
		WHERE send_state IN ('waiting', 'sending')
			AND ((send_state = 'waiting' AND next_attempt_at <= $1) OR (send_state = 'sending' AND claim_until < $1))
		LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("list sessions with due messages: %w", err)
	}
	defer rows.Close()
	var out []sessionRef
	for rows.Next() {
		var r sessionRef
		if err := rows.Scan(&r.tenantID, &r.sessionID); err != nil {
			return nil, fmt.Errorf("list sessions with due messages: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// expiredSend is a waiting message whose send timeout has passed.
type expiredSend struct {
	tenantID string
	id       string
	reason   FailReason
}

// expiredWaiting lists messages still waiting although they were accepted
// before cutoff, with the reason their last attempt failed.
func (s *Store) expiredWaiting(ctx context.Context, cutoff time.Time, limit int) ([]expiredSend, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT tenant_id, id, send_error FROM session_messages
		WHERE send_state IN ('waiting', 'sending') AND send_state = 'waiting' AND created_at <= $1
		ORDER BY created_at LIMIT $2`, cutoff.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list expired messages: %w", err)
	}
	defer rows.Close()
	var out []expiredSend
	for rows.Next() {
		var e expiredSend
		var reason string
		if err := rows.Scan(&e.tenantID, &e.id, &reason); err != nil {
			return nil, fmt.Errorf("list expired messages: %w", err)
		}
		e.reason = FailReason(reason)
		if e.reason == "" {
			e.reason = ReasonNotConnected
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
