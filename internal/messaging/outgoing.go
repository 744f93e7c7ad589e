package messaging

import (
	"errors"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/wa"
)

// outgoing is a message the API accepted for sending: the aggregate the
// send use case creates. newOutgoing is its only constructor; the worker
// reads a stored one back as a sendJob.
type outgoing struct {
	id        string
	tenantID  string
	sessionID string
	chatJID   string
	typ       wa.MessageType
	content   wa.Content
	// inline is base64 media, stored in message_media, never in the outbox.
	inline     []byte
	acceptedAt time.Time
}

func newOutgoing(tenantID, sessionID string, d draft, at time.Time) (*outgoing, error) {
	if tenantID == "" || sessionID == "" || d.chatJID == "" || d.typ == "" {
		return nil, errors.New("outgoing message needs a tenant, a session, a chat and a type")
	}
	if isMedia(d.typ) && d.inline == nil && d.content.URL == "" {
		return nil, errors.New("outgoing media needs bytes or a URL")
	}
	return &outgoing{
		id:         eventlog.NewID(),
		tenantID:   tenantID,
		sessionID:  sessionID,
		chatJID:    d.chatJID,
		typ:        d.typ,
		content:    d.content,
		inline:     d.inline,
		acceptedAt: at.UTC().Truncate(time.Millisecond),
	}, nil
}

// message is the read model of the just-accepted message.
func (o *outgoing) message() Message {
	return Message{
		ID:        o.id,
		SessionID: o.sessionID,
		ChatJID:   o.chatJID,
		Direction: DirectionOut,
		Status:    StatusPending,
		Type:      o.typ,
		Content:   o.content,
		Timestamp: o.acceptedAt,
	}
}
