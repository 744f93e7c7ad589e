package messaging

import (
	"time"

	"github.com/wagate/wagate/internal/wa"
)

// Message is the read model of one message as the API shows it.
type Message struct {
	// ID is wagate's id of the message.
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	ChatJID   string `json:"chatJid"`
	// MessageID is WhatsApp's id; empty until an outgoing message is sent.
	MessageID string         `json:"messageId"`
	Direction Direction      `json:"direction" enum:"in,out"`
	Status    Status         `json:"status" enum:"pending,sent,delivered,read,failed,received"`
	Type      wa.MessageType `json:"type"`
	Content   wa.Content     `json:"content"`
	SenderJID string         `json:"senderJid"`
	PushName  string         `json:"pushName"`
	Timestamp time.Time      `json:"timestamp"`
	// Error is the failure reason code of a failed message.
	Error string `json:"error,omitempty"`
}

// Chat is the read model of one chat's summary.
type Chat struct {
	SessionID     string    `json:"sessionId"`
	ChatJID       string    `json:"chatJid"`
	Name          string    `json:"name"`
	LastMessageID string    `json:"lastMessageId"`
	LastMessageTs time.Time `json:"lastMessageTs"`
	UnreadCount   int       `json:"unreadCount"`
}

// isMedia reports whether a message type carries downloadable bytes.
func isMedia(t wa.MessageType) bool {
	switch t {
	case wa.TypeImage, wa.TypeVideo, wa.TypeAudio, wa.TypeDocument, wa.TypeSticker:
		return true
	}
	return false
}
