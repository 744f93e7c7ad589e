package wa

import "time"

// Event type names of the messaging flow (stable wire names).
const (
	EventMessageReceived      = "message.received"
	EventMessageSent          = "message.sent"
	EventMessageFailed        = "message.failed"
	EventMessageStatusUpdated = "message.status.updated"
	EventMessagesUpsert       = "session.messages.upsert"
	EventHistorySync          = "session.history.sync"
)

// MessageReceived is emitted for each new inbound message.
type MessageReceived struct {
	Message Message `json:"message"`
}

// EventType implements eventlog.Event.
func (MessageReceived) EventType() string { return EventMessageReceived }

// MessagesUpsert is emitted when messages are new or changed on the linked
// device (inbound, or sent from the phone itself).
type MessagesUpsert struct {
	Messages []Message `json:"messages"`
}

// EventType implements eventlog.Event.
func (MessagesUpsert) EventType() string { return EventMessagesUpsert }

// HistorySync carries one bounded chunk of a history sync. A large sync is
// split into many events so no process holds all of it at once.
type HistorySync struct {
	Chats []HistoryChat `json:"chats"`
	// Chunk and Final let consumers report progress; each chunk stands alone.
	Chunk int  `json:"chunk"`
	Final bool `json:"final"`
}

// EventType implements eventlog.Event.
func (HistorySync) EventType() string { return EventHistorySync }

// MessageSent is emitted once the provider accepted an outgoing message.
type MessageSent struct {
	ID        string    `json:"id"`
	MessageID string    `json:"messageId"`
	ChatJID   string    `json:"chatJid"`
	Timestamp time.Time `json:"timestamp"`
}

// EventType implements eventlog.Event.
func (MessageSent) EventType() string { return EventMessageSent }

// MessageFailed is emitted when an outgoing message cannot be sent.
type MessageFailed struct {
	ID      string `json:"id"`
	ChatJID string `json:"chatJid"`
	// Reason is a stable code: session_not_connected, invalid_recipient,
	// media_unavailable, provider_error, rate_limited, …
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// EventType implements eventlog.Event.
func (MessageFailed) EventType() string { return EventMessageFailed }

// MessageStatusUpdated is emitted for delivery and read receipts, and for
// messages that failed after the provider accepted them (Status failed).
type MessageStatusUpdated struct {
	ChatJID    string      `json:"chatJid"`
	MessageIDs []string    `json:"messageIds"`
	Status     ReceiptType `json:"status"`
	Timestamp  time.Time   `json:"timestamp"`
	// Reason and Error are set when Status is failed.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// EventType implements eventlog.Event.
func (MessageStatusUpdated) EventType() string { return EventMessageStatusUpdated }
