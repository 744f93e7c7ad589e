package messaging

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wagate/wagate/internal/store"
)

// historyColumns are the session_messages columns a history row fills.
var historyColumns = []string{"tenant_id", "session_id", "created_at", "updated_at", "id", "chat_jid", "message_id",
	"direction", "status", "status_rank", "type", "content", "media_key", "sender_jid", "push_name", "ts"}

// inConnTx runs fn in a transaction on one pinned connection, so fn can
// reach the driver (COPY) inside the transaction. It commits when fn
// returns nil. Unlike store.DB.InTx it does not retry: its caller is an
// event handler, which the event log retries with backoff.
func (s *Store) inConnTx(ctx context.Context, fn func(conn *sql.Conn, tx *sql.Tx) error) error {
	conn, err := s.db.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(conn, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// insertHistory writes a history chunk's rows, leaving rows that exist
// untouched. On PostgreSQL it first tries COPY inside a savepoint — the
// fast path of a first sync, where none of the rows exists yet — and falls
// back to the multi-row INSERT … ON CONFLICT DO NOTHING when any row is
// already there (a re-sync, or live messages that arrived first). SQLite
// always takes the multi-row INSERT.
func (s *Store) insertHistory(ctx context.Context, conn *sql.Conn, tx *sql.Tx, tenantID, sessionID string, rows []reported, now int64) error {
	if conn == nil || s.db.Dialect != store.Postgres || len(rows) == 0 {
		_, err := insertMessages(ctx, tx, s.db.Dialect, tenantID, sessionID, rows, false, now)
		return err
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT history_copy`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", dc)
		}
		_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{"session_messages"}, historyColumns,
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{tenantID, sessionID, now, now, r.id, r.chatJID, r.messageID, string(r.direction),
					string(r.status), r.status.Rank(), string(r.typ), r.content, r.mediaKey, r.senderJID, r.pushName, r.ts}, nil
			}))
		return err
	})
	if err == nil {
		_, err = tx.ExecContext(ctx, `RELEASE SAVEPOINT history_copy`)
		return err
	}
	if !store.IsUniqueViolation(err) {
		return fmt.Errorf("copy %d history messages: %w", len(rows), err)
	}
	if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT history_copy`); err != nil {
		return fmt.Errorf("rollback to savepoint: %w", err)
	}
	_, err = insertMessages(ctx, tx, s.db.Dialect, tenantID, sessionID, rows, false, now)
	return err
}

// historyTx runs fn in a transaction for a history chunk: on PostgreSQL on
// a pinned connection (so insertHistory can COPY), on SQLite through
// store.DB.InTx (which retries a busy database) with no connection.
func (s *Store) historyTx(ctx context.Context, fn func(conn *sql.Conn, tx *sql.Tx) error) error {
	if s.db.Dialect == store.Postgres {
		return s.inConnTx(ctx, fn)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error { return fn(nil, tx) })
}
