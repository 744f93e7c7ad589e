package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// ServiceConfig configures the API-side use cases.
type ServiceConfig struct {
	// MaxMediaBytes bounds inline (base64) media and downloads
	// (WAGATE_MAX_MEDIA_BYTES).
	MaxMediaBytes int64
	// MediaDir caches media files on the API's disk (WAGATE_MEDIA_DIR).
	MediaDir string
	// MediaWait bounds how long a media request waits for the worker's
	// download before answering 503 media-pending (default 30s).
	MediaWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *ServiceConfig) setDefaults() {
	if c.MaxMediaBytes <= 0 {
		c.MaxMediaBytes = 16 << 20
	}
	if c.MediaDir == "" {
		c.MediaDir = "./data/media"
	}
	if c.MediaWait <= 0 {
		c.MediaWait = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service holds the messaging use cases the API runs: send, read, mark
// read, media.
type Service struct {
	cfg      ServiceConfig
	store    *Store
	sessions SessionChecker
	logger   *slog.Logger
	metrics  *Metrics
}

// NewService returns a Service; metrics may be nil.
func NewService(cfg ServiceConfig, s *Store, sessions SessionChecker, logger *slog.Logger, metrics *Metrics) (*Service, error) {
	cfg.setDefaults()
	if s == nil || sessions == nil || logger == nil {
		return nil, errors.New("messaging service needs a store, a session checker and a logger")
	}
	return &Service{cfg: cfg, store: s, sessions: sessions, logger: logger, metrics: metrics}, nil
}

// SendInput is one send request as the API received it.
type SendInput struct {
	TenantID  string
	SessionID string
	// ChatJID is the chat named in the URL (POST /chats/{jid}/messages),
	// empty for POST /sessions/{id}/messages.
	ChatJID        string
	IdempotencyKey string
	Request        SendRequest
}

// Send validates a send request, stores the message as pending and queues
// its command in one transaction. With an Idempotency-Key, a repeat of the
// same request returns the message of the first (replayed = true) and
// queues nothing; the same key with another request is
// ErrIdempotencyKeyReused.
func (s *Service) Send(ctx context.Context, in SendInput) (m Message, replayed bool, err error) {
	if err := s.sessions.Exists(ctx, in.TenantID, in.SessionID); err != nil {
		return Message{}, false, err
	}
	route := ""
	if in.ChatJID != "" {
		if route, err = wa.NormalizeJID(in.ChatJID); err != nil {
			return Message{}, false, err
		}
	}
	key := strings.TrimSpace(in.IdempotencyKey)
	if in.IdempotencyKey != "" {
		if err := checkIdempotencyKey(key); err != nil {
			return Message{}, false, err
		}
	}
	d, err := in.Request.validate(route, s.cfg.MaxMediaBytes)
	if err != nil {
		return Message{}, false, err
	}
	if d.content.ReplyTo, err = s.resolveRef(ctx, in.TenantID, in.SessionID, d.content.ReplyTo); err != nil {
		return Message{}, false, err
	}
	if d.content.ReactionTo, err = s.resolveRef(ctx, in.TenantID, in.SessionID, d.content.ReactionTo); err != nil {
		return Message{}, false, err
	}
	o, err := newOutgoing(in.TenantID, in.SessionID, d, s.cfg.Now())
	if err != nil {
		return Message{}, false, err
	}
	m, replayed, err = s.store.accept(ctx, o, key, requestHash(in.SessionID, route, in.Request))
	if err != nil {
		return Message{}, false, err
	}
	if !replayed {
		s.metrics.acceptedOne()
	}
	return m, replayed, nil
}

// resolveRef turns a message reference (wagate id or WhatsApp id) into a
// WhatsApp id. Unknown references are taken as WhatsApp ids of messages
// wagate never stored.
func (s *Service) resolveRef(ctx context.Context, tenantID, sessionID, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	m, err := s.store.Message(ctx, tenantID, sessionID, ref)
	if errors.Is(err, ErrMessageNotFound) {
		return ref, nil
	}
	if err != nil {
		return "", err
	}
	if m.MessageID == "" {
		return "", ErrQuotedNotSent
	}
	return m.MessageID, nil
}

// Message returns one message of a session by wagate id or WhatsApp id.
func (s *Service) Message(ctx context.Context, tenantID, sessionID, id string) (Message, error) {
	if err := s.sessions.Exists(ctx, tenantID, sessionID); err != nil {
		return Message{}, err
	}
	return s.store.Message(ctx, tenantID, sessionID, id)
}

// ListChats returns a session's chats, most recent first.
func (s *Service) ListChats(ctx context.Context, tenantID, sessionID string, limit int, cursor string) ([]Chat, string, error) {
	if sessionID == "" {
		return nil, "", ErrSessionRequired
	}
	if err := s.sessions.Exists(ctx, tenantID, sessionID); err != nil {
		return nil, "", err
	}
	return s.store.ListChats(ctx, tenantID, sessionID, limit, cursor)
}

// ListMessages returns a chat's history, newest first.
func (s *Service) ListMessages(ctx context.Context, tenantID, sessionID, chat string, limit int, cursor string) ([]Message, string, error) {
	if sessionID == "" {
		return nil, "", ErrSessionRequired
	}
	jid, err := wa.NormalizeJID(chat)
	if err != nil {
		return nil, "", err
	}
	if err := s.sessions.Exists(ctx, tenantID, sessionID); err != nil {
		return nil, "", err
	}
	return s.store.ListMessages(ctx, tenantID, sessionID, jid, limit, cursor)
}

// MarkRead sets a chat's unread count to zero and queues read receipts for
// its unread inbound messages.
func (s *Service) MarkRead(ctx context.Context, tenantID, sessionID, chat string) (Chat, error) {
	if sessionID == "" {
		return Chat{}, ErrSessionRequired
	}
	jid, err := wa.NormalizeJID(chat)
	if err != nil {
		return Chat{}, err
	}
	if err := s.sessions.Exists(ctx, tenantID, sessionID); err != nil {
		return Chat{}, err
	}
	if err := s.store.markRead(ctx, tenantID, sessionID, jid); err != nil {
		return Chat{}, err
	}
	c, err := s.store.Chat(ctx, tenantID, sessionID, jid)
	if err != nil {
		return Chat{}, fmt.Errorf("reload chat %s: %w", jid, err)
	}
	return c, nil
}
