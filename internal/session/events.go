package session

import "time"

// Event is a domain event or worker command payload with a stable wire name
// (it satisfies eventlog.Event without this package importing it).
type Event interface {
	EventType() string
}

// Domain event names (public: WebSocket, webhooks).
const (
	EventCreated      = "session.created"
	EventQRUpdated    = "session.qr.updated"
	EventConnected    = "session.status.connected"
	EventDisconnected = "session.status.disconnected"
	EventDeleted      = "session.deleted"
)

// Created is emitted when a session is created.
type Created struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Status   Status `json:"status"`
}

// EventType implements Event.
func (Created) EventType() string { return EventCreated }

// QRUpdated is emitted for each new QR code to scan.
type QRUpdated struct {
	QR        string    `json:"qr"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// EventType implements Event.
func (QRUpdated) EventType() string { return EventQRUpdated }

// Connected is emitted when the session's device is linked and online.
type Connected struct {
	Phone string `json:"phone"`
}

// EventType implements Event.
func (Connected) EventType() string { return EventConnected }

// Disconnected is emitted when the session goes offline.
type Disconnected struct {
	Reason DisconnectReason `json:"reason"`
}

// EventType implements Event.
func (Disconnected) EventType() string { return EventDisconnected }

// Deleted is emitted when a session is deleted; its device is unlinked.
type Deleted struct{}

// EventType implements Event.
func (Deleted) EventType() string { return EventDeleted }
