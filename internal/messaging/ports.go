package messaging

import (
	"context"

	"github.com/wagate/wagate/internal/wa"
)

// Sender is what the messaging worker needs from the session worker: the
// session context's Manager implements it. Calls for a session that is not
// connected (or not run by this worker) return an error matching
// ErrSessionNotConnected.
type Sender interface {
	// Send hands a message to WhatsApp. msg.ID is wagate's id; the provider
	// derives WhatsApp's message id from it, so handing the same message
	// again (after a crash) produces the same WhatsApp message.
	Send(ctx context.Context, tenantID, sessionID string, msg wa.OutgoingMessage) (wa.SendResult, error)
	// MarkRead sends read receipts for inbound messages of a chat.
	MarkRead(ctx context.Context, tenantID, sessionID, chatJID string, ids []string) error
	// DownloadMedia fetches an inbound message's media.
	DownloadMedia(ctx context.Context, tenantID, sessionID string, m wa.Message) ([]byte, error)
}

// SessionChecker tells whether a session exists and belongs to a tenant; the
// session store implements it. Exists returns nil, a not-found apperr error
// (404) for a missing session or one of another tenant, or another error.
type SessionChecker interface {
	Exists(ctx context.Context, tenantID, sessionID string) error
}

// localSessions is implemented by Senders that know which sessions this
// worker process runs (session.Manager). The periodic scan then drains only
// those, leaving other workers' sessions to their owners; a Sender without
// it gets every session with due messages.
type localSessions interface {
	Running() []string
}
