package messaging

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

// batchRows bounds the rows of one multi-row statement (SQLite allows 32,766
// parameters; a message row takes 16).
const batchRows = 500

// reported is a message as the provider reported it, ready to store.
type reported struct {
	id        string
	chatJID   string
	messageID string
	direction Direction
	status    Status
	typ       wa.MessageType
	content   string
	mediaKey  string
	senderJID string
	pushName  string
	ts        int64
}

// toReported validates and converts a provider message. fallback is used
// when the message carries no timestamp.
func toReported(tenantID, sessionID string, m wa.Message, mediaKey string, fallback time.Time) (reported, error) {
	chat, err := wa.NormalizeJID(m.ChatJID)
	if err != nil {
		return reported{}, fmt.Errorf("message %q has an invalid chat %q", m.MessageID, m.ChatJID)
	}
	if m.MessageID == "" || len(m.MessageID) > maxMessageRef {
		return reported{}, fmt.Errorf("message in %s has no valid id", chat)
	}
	typ := m.Type
	if typ == "" {
		typ = wa.TypeUnknown
	}
	c := m.Content
	c.MediaKey = ""
	content, err := json.Marshal(c)
	if err != nil {
		return reported{}, fmt.Errorf("encode content of message %s: %w", m.MessageID, err)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = fallback
	}
	r := reported{
		id:        reportedID(tenantID, sessionID, chat, m.MessageID),
		chatJID:   chat,
		messageID: m.MessageID,
		direction: DirectionIn,
		status:    StatusReceived,
		typ:       typ,
		content:   string(content),
		mediaKey:  mediaKey,
		senderJID: m.SenderJID,
		pushName:  m.PushName,
		ts:        ts.UnixMilli(),
	}
	if m.FromMe {
		r.direction, r.status = DirectionOut, StatusSent
	}
	return r, nil
}

// dedupe keeps the last report of each message, so one statement never
// touches a row twice (PostgreSQL refuses that in ON CONFLICT DO UPDATE).
func dedupe(rows []reported) []reported {
	seen := make(map[string]int, len(rows))
	out := rows[:0:0]
	for _, r := range rows {
		k := r.chatJID + "\x00" + r.messageID
		if i, ok := seen[k]; ok {
			out[i] = r
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	return out
}

// insertMessages writes rows in multi-row statements. live=false (history)
// leaves existing rows untouched (ON CONFLICT DO NOTHING) and returns
// nothing; live=true merges status and push name into existing rows and
// returns the rows it created (revision 0), which is how exactly one of
// message.received and session.messages.upsert counts a message as unread.
func insertMessages(ctx context.Context, tx *sql.Tx, dialect store.Dialect, tenantID, sessionID string, rows []reported, live bool, now int64) ([]reported, error) {
	var created []reported
	for start := 0; start < len(rows); start += batchRows {
		batch := rows[start:min(start+batchRows, len(rows))]
		q := newBatchSQL(dialect, len(batch), 15)
		q.b.WriteString(`INSERT INTO session_messages (tenant_id, session_id, created_at, updated_at,
			id, chat_jid, message_id, direction, status, status_rank, type, content, media_key,
			sender_jid, push_name, ts) VALUES `)
		for _, r := range batch {
			q.row(tenantID, sessionID, now, now, r.id, r.chatJID, r.messageID, r.direction, r.status, r.status.Rank(),
				r.typ, r.content, r.mediaKey, r.senderJID, r.pushName, r.ts)
		}
		b, args := &q.b, q.args
		b.WriteString(` ON CONFLICT (tenant_id, session_id, message_id, chat_jid) `)
		if !live {
			b.WriteString(`DO NOTHING`)
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return nil, fmt.Errorf("insert %d history messages: %w", len(batch), err)
			}
			continue
		}
		b.WriteString(`DO UPDATE SET
			status = CASE WHEN excluded.status_rank > session_messages.status_rank
				THEN excluded.status ELSE session_messages.status END,
			status_rank = CASE WHEN excluded.status_rank > session_messages.status_rank
				THEN excluded.status_rank ELSE session_messages.status_rank END,
			push_name = CASE WHEN session_messages.push_name = '' THEN excluded.push_name
				ELSE session_messages.push_name END,
			media_key = CASE WHEN session_messages.media_key = '' THEN excluded.media_key
				ELSE session_messages.media_key END,
			revision = session_messages.revision + 1,
			updated_at = excluded.updated_at
			RETURNING chat_jid, message_id, revision`)
		res, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("upsert %d messages: %w", len(batch), err)
		}
		isNew := map[string]bool{}
		for res.Next() {
			var chat, id string
			var rev int
			if err := res.Scan(&chat, &id, &rev); err != nil {
				res.Close()
				return nil, fmt.Errorf("upsert messages: %w", err)
			}
			if rev == 0 {
				isNew[chat+"\x00"+id] = true
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("upsert messages: %w", err)
		}
		for _, r := range batch {
			if isNew[r.chatJID+"\x00"+r.messageID] {
				created = append(created, r)
			}
		}
	}
	return created, nil
}

// chatUpdate is what one batch says about a chat's summary.
type chatUpdate struct {
	chatJID string
	name    string
	lastID  string
	lastTS  int64
	// unread is the phone's unread count from a history sync (0 otherwise).
	unread int
}

// newest folds rows into one update per chat: the newest message by
// (timestamp, WhatsApp id), so any arrival order gives the same summary.
func newest(rows []reported, names map[string]string) []chatUpdate {
	idx := map[string]int{}
	var out []chatUpdate
	for _, r := range rows {
		i, ok := idx[r.chatJID]
		if !ok {
			i = len(out)
			idx[r.chatJID] = i
			out = append(out, chatUpdate{chatJID: r.chatJID, name: names[r.chatJID]})
		}
		u := &out[i]
		if r.ts > u.lastTS || (r.ts == u.lastTS && r.messageID > u.lastID) {
			u.lastTS, u.lastID = r.ts, r.messageID
		}
		if u.name == "" && r.direction == DirectionIn && r.pushName != "" && strings.HasSuffix(r.chatJID, "@"+wa.UserServer) {
			u.name = r.pushName
		}
	}
	// One order for every transaction, so concurrent upserts of the same
	// chats cannot deadlock.
	sort.Slice(out, func(a, b int) bool { return out[a].chatJID < out[b].chatJID })
	return out
}

// upsertChats merges chat summaries. The newest message wins whatever the
// order of arrival; names fill in (or, from a history sync, replace); the
// phone's unread count from a history sync applies only to chats never
// marked read through the API.
func upsertChats(ctx context.Context, tx *sql.Tx, dialect store.Dialect, tenantID, sessionID string, updates []chatUpdate, replaceName bool, now int64) error {
	for start := 0; start < len(updates); start += batchRows {
		batch := updates[start:min(start+batchRows, len(updates))]
		q := newBatchSQL(dialect, len(batch), 9)
		q.b.WriteString(`INSERT INTO session_chats (tenant_id, session_id, created_at, updated_at,
			chat_jid, name, last_message_id, last_message_ts, unread_count) VALUES `)
		for _, u := range batch {
			q.row(tenantID, sessionID, now, now, u.chatJID, u.name, u.lastID, u.lastTS, u.unread)
		}
		b, args := &q.b, q.args
		nameRule := `CASE WHEN session_chats.name = '' THEN excluded.name ELSE session_chats.name END`
		if replaceName {
			nameRule = `CASE WHEN excluded.name <> '' THEN excluded.name ELSE session_chats.name END`
		}
		b.WriteString(` ON CONFLICT (tenant_id, session_id, chat_jid) DO UPDATE SET
			name = ` + nameRule + `,
			last_message_id = CASE WHEN excluded.last_message_ts > session_chats.last_message_ts
				OR (excluded.last_message_ts = session_chats.last_message_ts
					AND excluded.last_message_id > session_chats.last_message_id)
				THEN excluded.last_message_id ELSE session_chats.last_message_id END,
			last_message_ts = CASE WHEN excluded.last_message_ts > session_chats.last_message_ts
				THEN excluded.last_message_ts ELSE session_chats.last_message_ts END,
			unread_count = CASE WHEN session_chats.read_through_ts = 0
					AND excluded.unread_count > session_chats.unread_count
				THEN excluded.unread_count ELSE session_chats.unread_count END,
			updated_at = excluded.updated_at`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("upsert %d chats: %w", len(batch), err)
		}
	}
	return nil
}

// countUnread adds newly stored inbound messages to their chats' unread
// counts, skipping those at or before the chat's read mark.
func countUnread(ctx context.Context, tx *sql.Tx, tenantID, sessionID string, created []reported) error {
	for _, r := range created {
		if r.direction != DirectionIn {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE session_chats SET unread_count = unread_count + 1
			WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3 AND read_through_ts < $4`,
			tenantID, sessionID, r.chatJID, r.ts); err != nil {
			return fmt.Errorf("count unread in %s: %w", r.chatJID, err)
		}
	}
	return nil
}

// applyReceipt raises the status of outgoing messages (never lowers it).
// Receipts for messages not stored yet are kept and folded in later.
func applyReceipt(ctx context.Context, tx *sql.Tx, tenantID, sessionID, chatJID string, ids []string, status Status, now int64) error {
	for _, id := range ids {
		if id == "" || len(id) > maxMessageRef {
			continue
		}
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM session_messages
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3`, tenantID, sessionID, id).Scan(&exists)
		if err != nil {
			return fmt.Errorf("apply receipt for %s: %w", id, err)
		}
		if exists == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO message_receipts
				(tenant_id, session_id, message_id, chat_jid, status, status_rank, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (tenant_id, session_id, message_id) DO UPDATE SET
					status = CASE WHEN excluded.status_rank > message_receipts.status_rank
						THEN excluded.status ELSE message_receipts.status END,
					status_rank = CASE WHEN excluded.status_rank > message_receipts.status_rank
						THEN excluded.status_rank ELSE message_receipts.status_rank END`,
				tenantID, sessionID, id, chatJID, status, status.Rank(), now); err != nil {
				return fmt.Errorf("keep early receipt for %s: %w", id, err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE session_messages SET status = $4, status_rank = $5, updated_at = $6
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3
				AND direction = 'out' AND status_rank < $5`,
			tenantID, sessionID, id, status, status.Rank(), now); err != nil {
			return fmt.Errorf("apply receipt for %s: %w", id, err)
		}
	}
	return nil
}

// foldReceipts applies receipts that arrived before their messages had
// WhatsApp ids in the database, then forgets them.
func foldReceipts(ctx context.Context, tx *sql.Tx, tenantID, sessionID string, messageIDs []string, now int64) error {
	var pending int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM message_receipts WHERE tenant_id = $1 AND session_id = $2`,
		tenantID, sessionID).Scan(&pending); err != nil || pending == 0 {
		return err
	}
	for _, id := range messageIDs {
		var status string
		err := tx.QueryRowContext(ctx, `DELETE FROM message_receipts
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3 RETURNING status`,
			tenantID, sessionID, id).Scan(&status)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return fmt.Errorf("fold receipt for %s: %w", id, err)
		}
		st := Status(status)
		if _, err := tx.ExecContext(ctx, `UPDATE session_messages SET status = $4, status_rank = $5, updated_at = $6
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3
				AND direction = 'out' AND status_rank < $5`,
			tenantID, sessionID, id, st, st.Rank(), now); err != nil {
			return fmt.Errorf("fold receipt for %s: %w", id, err)
		}
	}
	return nil
}

// lockMessage serialises, on PostgreSQL, the transactions that give a
// message its WhatsApp id (recordSent) and those applying receipts to it, so
// a receipt racing the send is either applied or kept and folded — never
// lost. SQLite runs one writer at a time and needs nothing.
func (s *Store) lockMessage(ctx context.Context, tx *sql.Tx, tenantID, sessionID, messageID string) error {
	if s.db.Dialect != store.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		tenantID+"|"+sessionID+"|"+messageID); err != nil {
		return fmt.Errorf("lock message %s: %w", messageID, err)
	}
	return nil
}
