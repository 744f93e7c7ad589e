package messaging

import "time"

// Commands of the messaging context, written to eventlog.SessionCommands
// through the outbox and executed by the session worker (Worker).
const (
	// CommandSendMessage sends a stored outgoing message (seed name).
	CommandSendMessage = "session.sendMessage"
	// CommandMarkRead sends read receipts for messages of a chat.
	CommandMarkRead = "session.markRead"
	// CommandDownloadMedia downloads an inbound message's media into the
	// database, where the API streams it from.
	CommandDownloadMedia = "session.downloadMedia"
)

// SendMessageCommand asks the worker to send a stored message. The content
// and media are read from the database, so the command stays small.
type SendMessageCommand struct {
	// ID is wagate's id of the message.
	ID      string `json:"id"`
	ChatJID string `json:"chatJid"`
}

// EventType implements eventlog.Event.
func (SendMessageCommand) EventType() string { return CommandSendMessage }

// MarkReadCommand asks the worker to send read receipts.
type MarkReadCommand struct {
	ChatJID string `json:"chatJid"`
	// MessageIDs are WhatsApp ids of inbound messages.
	MessageIDs []string  `json:"messageIds"`
	ReadAt     time.Time `json:"readAt"`
}

// EventType implements eventlog.Event.
func (MarkReadCommand) EventType() string { return CommandMarkRead }

// DownloadMediaCommand asks the worker to download a message's media.
type DownloadMediaCommand struct {
	// ID is wagate's id of the message.
	ID string `json:"id"`
}

// EventType implements eventlog.Event.
func (DownloadMediaCommand) EventType() string { return CommandDownloadMedia }
