package messaging

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/wa"
)

// PersistSubscription names the event-consumer group that persists
// messages and chats.
const PersistSubscription = "messaging.persist"

// EventSessionDeleted is the session context's event after which a
// session's messages and chats are deleted (wire name of session.EventDeleted).
const EventSessionDeleted = "session.deleted"

// Ingester persists what the session worker reports into session_messages
// and session_chats. Every handler is idempotent and order-tolerant:
// messages are upserted on their natural key (tenant, session, WhatsApp id,
// chat), the chat summary keeps the newest message by timestamp, statuses
// only move forward, and unread counts grow only when a row is created.
type Ingester struct {
	store   *Store
	logger  *slog.Logger
	metrics *Metrics
}

// NewIngester returns an Ingester; metrics may be nil.
func NewIngester(s *Store, logger *slog.Logger, metrics *Metrics) *Ingester {
	return &Ingester{store: s, logger: logger, metrics: metrics}
}

// Subscription is the ingester's event-consumer subscription.
func (i *Ingester) Subscription() eventlog.Subscription {
	return eventlog.Subscription{
		Name:   PersistSubscription,
		Stream: eventlog.DomainEvents,
		Types: []string{wa.EventMessageReceived, wa.EventMessagesUpsert, wa.EventHistorySync,
			wa.EventMessageSent, wa.EventMessageStatusUpdated, EventSessionDeleted},
		Handler: i.Handle,
	}
}

// Handle persists one event. An error means "retry": only the database can
// cause one; a message that cannot be stored is logged and skipped.
func (i *Ingester) Handle(ctx context.Context, env eventlog.Envelope) error {
	if env.TenantID == "" || env.SessionID == "" {
		i.logger.WarnContext(ctx, "messaging event without tenant or session", "type", env.Type, "eventId", env.ID)
		return nil
	}
	switch env.Type {
	case wa.EventMessageReceived:
		var ev wa.MessageReceived
		var keys struct {
			Message wireMessage `json:"message"`
		}
		if err := decodeBoth(env, &ev, &keys); err != nil {
			return err
		}
		return i.live(ctx, env, []wa.Message{ev.Message}, []string{keys.Message.Content.MediaKey})
	case wa.EventMessagesUpsert:
		var ev wa.MessagesUpsert
		var keys struct {
			Messages []wireMessage `json:"messages"`
		}
		if err := decodeBoth(env, &ev, &keys); err != nil {
			return err
		}
		return i.live(ctx, env, ev.Messages, mediaKeysOf(keys.Messages))
	case wa.EventHistorySync:
		var ev wa.HistorySync
		var keys struct {
			Chats []struct {
				Messages []wireMessage `json:"messages"`
			} `json:"chats"`
		}
		if err := decodeBoth(env, &ev, &keys); err != nil {
			return err
		}
		return i.history(ctx, env, ev, keys.Chats)
	case wa.EventMessageSent:
		var ev wa.MessageSent
		if err := env.Decode(&ev); err != nil {
			return err
		}
		return i.sent(ctx, env, ev)
	case wa.EventMessageStatusUpdated:
		var ev wa.MessageStatusUpdated
		if err := env.Decode(&ev); err != nil {
			return err
		}
		return i.receipt(ctx, env, ev)
	case EventSessionDeleted:
		return i.store.purgeSession(ctx, env.TenantID, env.SessionID)
	}
	return nil
}

// wireMessage reads what wa.Message does not decode: the provider's media
// download data, when the worker puts it in the event as content.mediaKey.
type wireMessage struct {
	Content struct {
		MediaKey string `json:"mediaKey"`
	} `json:"content"`
}

func mediaKeysOf(ms []wireMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content.MediaKey
	}
	return out
}

// decodeBoth decodes the payload, and the media keys only when the payload
// has any (a history chunk of text would otherwise be parsed twice).
func decodeBoth(env eventlog.Envelope, ev, keys any) error {
	if err := env.Decode(ev); err != nil {
		return err
	}
	if !bytes.Contains(env.Data, []byte(`"mediaKey"`)) {
		return nil
	}
	return env.Decode(keys)
}

func (i *Ingester) convert(ctx context.Context, env eventlog.Envelope, msgs []wa.Message, keys []string) []reported {
	rows := make([]reported, 0, len(msgs))
	for n, m := range msgs {
		key := m.Content.MediaKey
		if key == "" && n < len(keys) {
			key = keys[n]
		}
		r, err := toReported(env.TenantID, env.SessionID, m, key, env.OccurredAt)
		if err != nil {
			i.logger.WarnContext(ctx, "skipping unstorable message", "eventId", env.ID, "error", err)
			continue
		}
		rows = append(rows, r)
	}
	return dedupe(rows)
}

// live stores messages reported as they happen.
func (i *Ingester) live(ctx context.Context, env eventlog.Envelope, msgs []wa.Message, keys []string) error {
	rows := i.convert(ctx, env, msgs, keys)
	if len(rows) == 0 {
		return nil
	}
	now := i.store.nowMs()
	err := i.store.db.InTx(ctx, func(tx *sql.Tx) error {
		created, err := insertMessages(ctx, tx, i.store.db.Dialect, env.TenantID, env.SessionID, rows, true, now)
		if err != nil {
			return err
		}
		if err := upsertChats(ctx, tx, i.store.db.Dialect, env.TenantID, env.SessionID, newest(rows, nil), false, now); err != nil {
			return err
		}
		if err := countUnread(ctx, tx, env.TenantID, env.SessionID, created); err != nil {
			return err
		}
		return foldReceipts(ctx, tx, env.TenantID, env.SessionID, outgoingIDs(rows), now)
	})
	if err != nil {
		return fmt.Errorf("persist %s %s: %w", env.Type, env.ID, err)
	}
	i.metrics.ingested(env.Type, len(rows))
	return nil
}

// history stores one chunk of a history sync in one transaction: COPY on
// PostgreSQL when none of its messages exists yet, multi-row inserts
// otherwise (insertHistory). Memory is bounded by the chunk the event
// carries (the worker splits syncs into chunks of at most 500 messages).
func (i *Ingester) history(ctx context.Context, env eventlog.Envelope, ev wa.HistorySync, keys []struct {
	Messages []wireMessage `json:"messages"`
}) error {
	var rows []reported
	var chats []chatUpdate
	for n, hc := range ev.Chats {
		var k []string
		if n < len(keys) {
			k = mediaKeysOf(keys[n].Messages)
		}
		chatRows := i.convert(ctx, env, hc.Messages, k)
		jid, err := wa.NormalizeJID(hc.ChatJID)
		if err != nil {
			i.logger.WarnContext(ctx, "skipping history chat with invalid JID", "eventId", env.ID, "chat", hc.ChatJID)
			continue
		}
		u := chatUpdate{chatJID: jid, name: hc.Name, unread: max(hc.UnreadCount, 0)}
		for _, c := range newest(chatRows, nil) {
			if c.chatJID == jid {
				u.lastID, u.lastTS = c.lastID, c.lastTS
			} else {
				chats = append(chats, c) // a message filed under another chat
			}
		}
		chats = append(chats, u)
		rows = append(rows, chatRows...)
	}
	rows = dedupe(rows)
	now := i.store.nowMs()
	err := i.store.historyTx(ctx, func(conn *sql.Conn, tx *sql.Tx) error {
		if err := i.store.insertHistory(ctx, conn, tx, env.TenantID, env.SessionID, rows, now); err != nil {
			return err
		}
		if err := upsertChats(ctx, tx, i.store.db.Dialect, env.TenantID, env.SessionID, mergeChatUpdates(chats), true, now); err != nil {
			return err
		}
		return foldReceipts(ctx, tx, env.TenantID, env.SessionID, outgoingIDs(rows), now)
	})
	if err != nil {
		return fmt.Errorf("persist history chunk %d (%s): %w", ev.Chunk, env.ID, err)
	}
	i.metrics.ingested(env.Type, len(rows))
	return nil
}

// mergeChatUpdates folds several updates of one chat into one, so a
// statement never touches a chat twice.
func mergeChatUpdates(us []chatUpdate) []chatUpdate {
	idx := map[string]int{}
	var out []chatUpdate
	for _, u := range us {
		i, ok := idx[u.chatJID]
		if !ok {
			idx[u.chatJID] = len(out)
			out = append(out, u)
			continue
		}
		o := &out[i]
		if u.lastTS > o.lastTS || (u.lastTS == o.lastTS && u.lastID > o.lastID) {
			o.lastTS, o.lastID = u.lastTS, u.lastID
		}
		if u.name != "" {
			o.name = u.name
		}
		o.unread = max(o.unread, u.unread)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].chatJID < out[b].chatJID })
	return out
}

func outgoingIDs(rows []reported) []string {
	var ids []string
	for _, r := range rows {
		if r.direction == DirectionOut {
			ids = append(ids, r.messageID)
		}
	}
	return ids
}

// sent makes an outgoing message its chat's latest when it is the newest.
// The message row itself was updated by the worker with the event.
func (i *Ingester) sent(ctx context.Context, env eventlog.Envelope, ev wa.MessageSent) error {
	chat, err := wa.NormalizeJID(ev.ChatJID)
	if err != nil || ev.MessageID == "" {
		i.logger.WarnContext(ctx, "message.sent without chat or id", "eventId", env.ID)
		return nil
	}
	u := chatUpdate{chatJID: chat, lastID: ev.MessageID, lastTS: store.Millis(ev.Timestamp)}
	err = i.store.db.InTx(ctx, func(tx *sql.Tx) error {
		return upsertChats(ctx, tx, i.store.db.Dialect, env.TenantID, env.SessionID, []chatUpdate{u}, false, i.store.nowMs())
	})
	if err != nil {
		return fmt.Errorf("persist %s %s: %w", env.Type, env.ID, err)
	}
	return nil
}

// receipt applies a delivery or read receipt.
func (i *Ingester) receipt(ctx context.Context, env eventlog.Envelope, ev wa.MessageStatusUpdated) error {
	var status Status
	switch ev.Status {
	case wa.ReceiptDelivered:
		status = StatusDelivered
	case wa.ReceiptRead:
		status = StatusRead
	case wa.ReceiptFailed:
		return i.failed(ctx, env, ev)
	default:
		i.logger.WarnContext(ctx, "ignoring receipt of unknown type", "eventId", env.ID, "status", string(ev.Status))
		return nil
	}
	ids := append([]string(nil), ev.MessageIDs...)
	sort.Strings(ids) // lock in one order: no deadlock between receipts
	err := i.store.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if err := i.store.lockMessage(ctx, tx, env.TenantID, env.SessionID, id); err != nil {
				return err
			}
		}
		return applyReceipt(ctx, tx, env.TenantID, env.SessionID, ev.ChatJID, ids, status, i.store.nowMs())
	})
	if err != nil {
		return fmt.Errorf("persist %s %s: %w", env.Type, env.ID, err)
	}
	return nil
}
