package messaging

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
)

// maxReadReceipts bounds the message ids one mark-read sends receipts for:
// the newest unread ones, which is what WhatsApp clients themselves do.
const maxReadReceipts = 100

// markRead zeroes a chat's unread count, moves its read mark to its newest
// message and queues read receipts for the inbound messages that were
// unread, in one transaction.
func (s *Store) markRead(ctx context.Context, tenantID, sessionID, chatJID string) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var lastTS, readThrough int64
		err := tx.QueryRowContext(ctx, `SELECT last_message_ts, read_through_ts FROM session_chats
			WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3`,
			tenantID, sessionID, chatJID).Scan(&lastTS, &readThrough)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrChatNotFound
		}
		if err != nil {
			return fmt.Errorf("load chat %s: %w", chatJID, err)
		}
		mark := max(lastTS, readThrough, 1)
		rows, err := tx.QueryContext(ctx, `SELECT message_id FROM session_messages
			WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3 AND ts > $4 AND ts <= $5
				AND direction = 'in' AND message_id IS NOT NULL
			ORDER BY ts DESC, id DESC LIMIT $6`,
			tenantID, sessionID, chatJID, readThrough, mark, maxReadReceipts)
		if err != nil {
			return fmt.Errorf("list unread messages of %s: %w", chatJID, err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("list unread messages of %s: %w", chatJID, err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list unread messages of %s: %w", chatJID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE session_chats SET unread_count = 0, read_through_ts = $4, updated_at = $5
			WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3`,
			tenantID, sessionID, chatJID, mark, now.UnixMilli()); err != nil {
			return fmt.Errorf("mark chat %s read: %w", chatJID, err)
		}
		if len(ids) == 0 {
			return nil
		}
		env, err := eventlog.NewEnvelope(ctx, tenantID, sessionID, MarkReadCommand{ChatJID: chatJID, MessageIDs: ids, ReadAt: now})
		if err != nil {
			return err
		}
		return eventlog.Append(ctx, tx, eventlog.SessionCommands, env)
	})
}

// Cleanup forgets idempotency keys past their 24 hours and early receipts
// whose message never arrived, and folds early receipts whose message
// arrived by a path that did not fold them. It returns what it removed.
func (s *Store) Cleanup(ctx context.Context) (int64, error) {
	now := s.nowMs()
	res, err := s.db.SQL.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	keys, _ := res.RowsAffected()
	res, err = s.db.SQL.ExecContext(ctx, `DELETE FROM message_receipts WHERE created_at < $1`,
		now-(7*24*time.Hour).Milliseconds())
	if err != nil {
		return keys, fmt.Errorf("delete stale receipts: %w", err)
	}
	receipts, _ := res.RowsAffected()

	rows, err := s.db.SQL.QueryContext(ctx, `SELECT r.tenant_id, r.session_id, r.message_id FROM message_receipts r
		WHERE EXISTS (SELECT 1 FROM session_messages m WHERE m.tenant_id = r.tenant_id
			AND m.session_id = r.session_id AND m.message_id = r.message_id)
		LIMIT 500`)
	if err != nil {
		return keys + receipts, fmt.Errorf("find foldable receipts: %w", err)
	}
	type ref struct{ tenant, session, id string }
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.tenant, &r.session, &r.id); err != nil {
			rows.Close()
			return keys + receipts, fmt.Errorf("find foldable receipts: %w", err)
		}
		refs = append(refs, r)
	}
	rows.Close()
	for _, r := range refs {
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			if err := s.lockMessage(ctx, tx, r.tenant, r.session, r.id); err != nil {
				return err
			}
			return foldReceipts(ctx, tx, r.tenant, r.session, []string{r.id}, now)
		})
		if err != nil {
			return keys + receipts, err
		}
	}
	return keys + receipts, rows.Err()
}

// purgeBatch bounds the rows one purge transaction deletes.
const purgeBatch = 5000

// purgeSession deletes a deleted session's messages, media, chats and
// receipts, in bounded transactions so a large history never holds one
// huge transaction. Running it again is harmless.
func (s *Store) purgeSession(ctx context.Context, tenantID, sessionID string) error {
	for {
		var n int64
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM message_media WHERE tenant_id = $1 AND message_id IN
				(SELECT id FROM session_messages WHERE tenant_id = $1 AND session_id = $2 LIMIT $3)`,
				tenantID, sessionID, purgeBatch); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM session_messages WHERE id IN
				(SELECT id FROM session_messages WHERE tenant_id = $1 AND session_id = $2 LIMIT $3)`,
				tenantID, sessionID, purgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("purge messages of session %s: %w", sessionID, err)
		}
		if n < purgeBatch {
			break
		}
	}
	for _, q := range []string{
		`DELETE FROM session_chats WHERE tenant_id = $1 AND session_id = $2`,
		`DELETE FROM message_receipts WHERE tenant_id = $1 AND session_id = $2`,
	} {
		if _, err := s.db.SQL.ExecContext(ctx, q, tenantID, sessionID); err != nil {
			return fmt.Errorf("purge session %s: %w", sessionID, err)
		}
	}
	return nil
}
