package session

import (
	"context"
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// Provider opens WhatsApp clients for sessions. Adapters: "whatsmeow" (the
// real WhatsApp Web multi-device client), "simulator" (a fake phone for
// development and tests) and later "cloud".
type Provider interface {
	// Name is the provider's stable name as stored on sessions.
	Name() string
	// Open creates a client for a session; it reports events to sink until
	// Close. Open does not connect: the manager calls Connect.
	Open(ctx context.Context, ref Ref, sink EventSink) (Client, error)
}

// Ref names one session of one tenant.
type Ref struct {
	TenantID  string
	SessionID string
}

// Client is one session's connection to WhatsApp. The manager serialises
// lifecycle calls (Connect, Disconnect, Logout, Close) per session; Send,
// MarkRead and DownloadMedia may run concurrently with each other.
type Client interface {
	// Connect starts connecting and returns without waiting for the link:
	// QR codes, "connected" and failures arrive through the sink.
	Connect(ctx context.Context) error
	// Disconnect closes the connection and keeps the pairing, so the next
	// Connect links without a QR.
	Disconnect()
	// Logout unlinks the device from the phone and forgets the pairing.
	Logout(ctx context.Context) error
	// PairPhone asks for an 8-character code the user types on the phone
	// (Linked devices → Link with phone number) instead of scanning a QR.
	// phone is E.164 ("+15550001111").
	PairPhone(ctx context.Context, phone string) (code string, err error)
	// Send delivers a message; ErrNotConnected when the link is down.
	Send(ctx context.Context, msg wa.OutgoingMessage) (wa.SendResult, error)
	// MarkRead sends read receipts for messages of a chat.
	MarkRead(ctx context.Context, chatJID string, messageIDs []string) error
	// DownloadMedia fetches the bytes of an inbound media message.
	DownloadMedia(ctx context.Context, m wa.Message) ([]byte, error)
	// IsConnected reports whether the client is linked and online now.
	IsConnected() bool
	// Close releases the client for good (after Disconnect or Logout); the
	// sink receives nothing afterwards.
	Close() error
}

// EventSink receives a client's events. The session manager implements it
// and turns them into domain events through the outbox. Calls for one
// session arrive in order; implementations must not block for long.
type EventSink interface {
	// QR reports a new code to show; the previous one is no longer valid.
	QR(code string, expiresAt time.Time)
	// Connected reports the link is up; phone is E.164 ("+15550001111").
	Connected(phone string)
	// Disconnected reports the link is down; willReconnect tells whether the
	// client itself is already retrying (the manager otherwise decides).
	Disconnected(reason DisconnectReason, willReconnect bool)
	// Messages reports inbound or from-me messages. isNew is true for live
	// messages (inbound ones become message.received) and false for
	// updates and offline catch-up that only upsert.
	Messages(msgs []wa.Message, isNew bool)
	// Receipt reports delivery or read of messages.
	Receipt(r wa.Receipt)
	// HistorySync reports one chunk of a history sync; providers chunk large
	// syncs (at most MaxHistoryChunk messages per call). final marks the last.
	HistorySync(chats []wa.HistoryChat, final bool)
}

// MaxHistoryChunk bounds the messages of one EventSink.HistorySync call, so
// no event or transaction grows with the size of a phone's history.
const MaxHistoryChunk = 500
