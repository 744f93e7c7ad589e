package messaging

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

// Store is the messaging persistence over store.DB (SQLite or PostgreSQL,
// one SQL text for both). Every query is scoped by tenant.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store; now is the clock (nil means time.Now).
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// DB is the underlying database (the benchmark and tests use it).
func (s *Store) DB() *store.DB { return s.db }

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// messageColumns is what readers select; scanMessage reads it.
const messageColumns = `id, session_id, chat_jid, COALESCE(message_id, ''), direction, status,
	type, content, sender_jid, push_name, ts, error`

type scanner interface{ Scan(dest ...any) error }

func scanMessage(row scanner) (Message, error) {
	var m Message
	var direction, status, typ, content string
	var ts int64
	if err := row.Scan(&m.ID, &m.SessionID, &m.ChatJID, &m.MessageID, &direction, &status,
		&typ, &content, &m.SenderJID, &m.PushName, &ts, &m.Error); err != nil {
		return Message{}, err
	}
	m.Direction, m.Status, m.Type = Direction(direction), Status(status), wa.MessageType(typ)
	m.Timestamp = store.FromMillis(ts)
	if err := json.Unmarshal([]byte(content), &m.Content); err != nil {
		return Message{}, fmt.Errorf("decode content of message %s: %w", m.ID, err)
	}
	return m, nil
}

// Message returns one message of a session by wagate id or WhatsApp id.
func (s *Store) Message(ctx context.Context, tenantID, sessionID, id string) (Message, error) {
	return s.messageQ(ctx, s.db.SQL, tenantID, sessionID, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) messageQ(ctx context.Context, q querier, tenantID, sessionID, id string) (Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM session_messages
		WHERE tenant_id = $1 AND session_id = $2 AND id = $3`, tenantID, sessionID, id))
	if errors.Is(err, sql.ErrNoRows) {
		// Not a wagate id: try WhatsApp's (the unique index leads with it).
		m, err = scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM session_messages
			WHERE tenant_id = $1 AND session_id = $2 AND message_id = $3
			ORDER BY ts DESC LIMIT 1`, tenantID, sessionID, id))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrMessageNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("load message %s: %w", id, err)
	}
	return m, nil
}

// ListMessages returns a chat's messages newest first, after the cursor.
func (s *Store) ListMessages(ctx context.Context, tenantID, sessionID, chatJID string, limit int, after string) ([]Message, string, error) {
	limit = clampLimit(limit)
	scope := sessionID + "|" + chatJID
	cur, err := decodeCursor(after, "m", scope)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT ` + messageColumns + ` FROM session_messages
		WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3`
	args := []any{tenantID, sessionID, chatJID}
	if cur != nil {
		// A row-value comparison is one index range in both databases.
		q += ` AND (ts, id) < ($4, $5)`
		args = append(args, cur.TS, cur.Key)
	}
	q += fmt.Sprintf(` ORDER BY ts DESC, id DESC LIMIT %d`, limit+1)
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list messages of %s: %w", chatJID, err)
	}
	defer rows.Close()
	items := make([]Message, 0, limit)
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list messages of %s: %w", chatJID, err)
		}
		items = append(items, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list messages of %s: %w", chatJID, err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		next = cursor{Kind: "m", Scope: scope, TS: last.Timestamp.UnixMilli(), Key: last.ID}.encode()
	}
	return items, next, nil
}

const chatColumns = `session_id, chat_jid, name, last_message_id, last_message_ts, unread_count`

func scanChat(row scanner) (Chat, error) {
	var c Chat
	var ts int64
	if err := row.Scan(&c.SessionID, &c.ChatJID, &c.Name, &c.LastMessageID, &ts, &c.UnreadCount); err != nil {
		return Chat{}, err
	}
	c.LastMessageTs = store.FromMillis(ts)
	return c, nil
}

// ListChats returns a session's chats, most recent activity first.
func (s *Store) ListChats(ctx context.Context, tenantID, sessionID string, limit int, after string) ([]Chat, string, error) {
	limit = clampLimit(limit)
	cur, err := decodeCursor(after, "c", sessionID)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT ` + chatColumns + ` FROM session_chats WHERE tenant_id = $1 AND session_id = $2`
	args := []any{tenantID, sessionID}
	if cur != nil {
		q += ` AND (last_message_ts, chat_jid) < ($3, $4)`
		args = append(args, cur.TS, cur.Key)
	}
	q += fmt.Sprintf(` ORDER BY last_message_ts DESC, chat_jid DESC LIMIT %d`, limit+1)
	rows, err := s.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list chats of session %s: %w", sessionID, err)
	}
	defer rows.Close()
	items := make([]Chat, 0, limit)
	for rows.Next() {
		c, err := scanChat(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list chats of session %s: %w", sessionID, err)
		}
		items = append(items, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list chats of session %s: %w", sessionID, err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		next = cursor{Kind: "c", Scope: sessionID, TS: last.LastMessageTs.UnixMilli(), Key: last.ChatJID}.encode()
	}
	return items, next, nil
}

// Chat returns one chat summary.
func (s *Store) Chat(ctx context.Context, tenantID, sessionID, chatJID string) (Chat, error) {
	c, err := scanChat(s.db.SQL.QueryRowContext(ctx, `SELECT `+chatColumns+` FROM session_chats
		WHERE tenant_id = $1 AND session_id = $2 AND chat_jid = $3`, tenantID, sessionID, chatJID))
	if errors.Is(err, sql.ErrNoRows) {
		return Chat{}, ErrChatNotFound
	}
	if err != nil {
		return Chat{}, fmt.Errorf("load chat %s: %w", chatJID, err)
	}
	return c, nil
}

// messageNamespace seeds the ids of messages wagate learns from WhatsApp,
// so every redelivery or re-sync of a message computes the same id.
var messageNamespace = uuid.MustParse("6b9e6a4e-2f55-4c1e-9d8a-5e0c7a1f3b21")

// reportedID is the wagate id of a message reported by the provider.
func reportedID(tenantID, sessionID, chatJID, messageID string) string {
	key := tenantID + "\x00" + sessionID + "\x00" + chatJID + "\x00" + messageID
	return uuid.NewSHA1(messageNamespace, []byte(key)).String()
}

// batchSQL builds a multi-row statement. SQLite gets anonymous "?"
// parameters: its "$N" parameters are looked up by name, linearly, which
// makes statements with thousands of them quadratic to parse and bind.
type batchSQL struct {
	sqlite bool
	b      strings.Builder
	args   []any
	n      int
}

func newBatchSQL(d store.Dialect, rows, perRow int) *batchSQL {
	return &batchSQL{sqlite: d == store.SQLite, args: make([]any, 0, rows*perRow)}
}

// arg adds a value and returns its placeholder.
func (q *batchSQL) arg(v any) string {
	q.args = append(q.args, v)
	if q.sqlite {
		return "?"
	}
	q.n++
	return "$" + strconv.Itoa(q.n)
}

// row appends "(p1, p2, …)" for one row's values, comma-separated from the
// previous row.
func (q *batchSQL) row(values ...any) {
	if len(q.args) > 0 {
		q.b.WriteString(", ")
	}
	q.b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			q.b.WriteString(", ")
		}
		q.b.WriteString(q.arg(v))
	}
	q.b.WriteByte(')')
}

// providerMessage loads a message in the provider's shape, with the
// provider's media download data, for DownloadMedia.
func (s *Store) providerMessage(ctx context.Context, tenantID, sessionID, id string) (wa.Message, string, error) {
	var m wa.Message
	var direction, typ, content, mediaKey string
	var ts int64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT COALESCE(message_id, ''), chat_jid, sender_jid, push_name,
			direction, type, content, media_key, ts
		FROM session_messages WHERE tenant_id = $1 AND session_id = $2 AND id = $3`,
		tenantID, sessionID, id).Scan(&m.MessageID, &m.ChatJID, &m.SenderJID, &m.PushName,
		&direction, &typ, &content, &mediaKey, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return wa.Message{}, "", ErrMessageNotFound
	}
	if err != nil {
		return wa.Message{}, "", fmt.Errorf("load message %s: %w", id, err)
	}
	m.FromMe = direction == string(DirectionOut)
	m.Type = wa.MessageType(typ)
	m.Timestamp = store.FromMillis(ts)
	if err := json.Unmarshal([]byte(content), &m.Content); err != nil {
		return wa.Message{}, "", fmt.Errorf("decode content of message %s: %w", id, err)
	}
	return m, mediaKey, nil
}
