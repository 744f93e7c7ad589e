package wa

import "time"

// MessageType is the kind of a message's content.
type MessageType string

// The message types wagate sends and receives.
const (
	TypeText     MessageType = "text"
	TypeImage    MessageType = "image"
	TypeVideo    MessageType = "video"
	TypeAudio    MessageType = "audio"
	TypeDocument MessageType = "document"
	TypeLocation MessageType = "location"
	TypeContact  MessageType = "contact"
	TypeReaction MessageType = "reaction"
	TypeSticker  MessageType = "sticker"
	TypeUnknown  MessageType = "unknown"
)

// Content is a message's payload; which fields are set depends on the type.
// Media is never embedded here: Media* fields describe it, and the bytes
// travel separately (OutgoingMessage.Media, or a provider download).
type Content struct {
	Text     string `json:"text,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Mimetype string `json:"mimetype,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// URL is where outgoing media was fetched from, when given by URL.
	URL string `json:"url,omitempty"`
	// VoiceNote marks audio sent as a push-to-talk voice note.
	VoiceNote bool `json:"voiceNote,omitempty"`
	// MediaKey is provider-specific data needed to download inbound media
	// later (opaque). It travels in provider events so the messaging store
	// can keep it; the messages API never returns it.
	MediaKey string `json:"mediaKey,omitempty"`

	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Name      string   `json:"name,omitempty"`
	Address   string   `json:"address,omitempty"`

	ContactName  string `json:"contactName,omitempty"`
	ContactPhone string `json:"contactPhone,omitempty"`
	VCard        string `json:"vcard,omitempty"`

	// ReactionTo is the WhatsApp message id a reaction refers to.
	ReactionTo string `json:"reactionTo,omitempty"`
	Emoji      string `json:"emoji,omitempty"`

	// ReplyTo is the WhatsApp message id this message quotes.
	ReplyTo string `json:"replyTo,omitempty"`
}

// Message is one WhatsApp message as a provider reports it, either
// direction: received from a contact, or sent from the linked phone or
// through wagate (FromMe).
type Message struct {
	MessageID string      `json:"messageId"`
	ChatJID   string      `json:"chatJid"`
	SenderJID string      `json:"senderJid,omitempty"`
	PushName  string      `json:"pushName,omitempty"`
	FromMe    bool        `json:"fromMe"`
	Type      MessageType `json:"type"`
	Content   Content     `json:"content"`
	Timestamp time.Time   `json:"timestamp"`
}

// OutgoingMessage is what the session worker hands a provider to send.
type OutgoingMessage struct {
	// ID is wagate's message id; providers may use it to derive a stable
	// WhatsApp message id so a retried send is recognised as the same one.
	ID      string
	ChatJID string
	Type    MessageType
	Content Content
	// Media holds the bytes of image/video/audio/document/sticker messages.
	Media []byte
}

// SendResult is the provider's acknowledgement of a send.
type SendResult struct {
	MessageID string
	Timestamp time.Time
}

// ReceiptType is how far a message got.
type ReceiptType string

// Receipt types, in order of progress.
const (
	ReceiptDelivered ReceiptType = "delivered"
	ReceiptRead      ReceiptType = "read"
	// ReceiptFailed: a message the provider accepted could not be delivered
	// after all (the Cloud API reports it asynchronously); Reason says why.
	ReceiptFailed ReceiptType = "failed"
)

// Receipt reports that messages reached or were read by the other side.
type Receipt struct {
	ChatJID    string      `json:"chatJid"`
	MessageIDs []string    `json:"messageIds"`
	Type       ReceiptType `json:"type"`
	Timestamp  time.Time   `json:"timestamp"`
	// Reason and Error describe a failed receipt: a stable message.failed
	// reason code and the provider's explanation.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// HistoryChat is one chat of a history sync with a slice of its messages.
type HistoryChat struct {
	ChatJID     string    `json:"chatJid"`
	Name        string    `json:"name,omitempty"`
	UnreadCount int       `json:"unreadCount"`
	Messages    []Message `json:"messages"`
}
