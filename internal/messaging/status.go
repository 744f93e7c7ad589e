package messaging

import "fmt"

// Status is how far a message got. Outgoing messages move pending → sent →
// delivered → read (or pending → failed); inbound messages are received.
type Status string

// Message statuses (public wire values).
const (
	StatusPending   Status = "pending"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
	StatusReceived  Status = "received"
)

// Rank orders the statuses a receipt can move a message through. A status
// update is applied only when it raises the rank, so a late "delivered"
// never downgrades "read". Pending, failed and received share rank 0.
func (s Status) Rank() int {
	switch s {
	case StatusSent:
		return 1
	case StatusDelivered:
		return 2
	case StatusRead:
		return 3
	}
	return 0
}

// Advance returns the status after an update to next: next when it ranks
// higher, s otherwise.
func (s Status) Advance(next Status) Status {
	if next.Rank() > s.Rank() {
		return next
	}
	return s
}

// ParseStatus checks a stored or received status value.
func ParseStatus(v string) (Status, error) {
	switch s := Status(v); s {
	case StatusPending, StatusSent, StatusDelivered, StatusRead, StatusFailed, StatusReceived:
		return s, nil
	}
	return "", fmt.Errorf("unknown message status %q", v)
}

// Direction tells who wrote a message: in (a contact) or out (this account,
// through wagate or from the phone).
type Direction string

// Message directions.
const (
	DirectionIn  Direction = "in"
	DirectionOut Direction = "out"
)

// FailReason is the stable code of a failed send (message.failed "reason").
type FailReason string

// Failure reasons.
const (
	ReasonNotConnected     FailReason = "session_not_connected"
	ReasonInvalidRecipient FailReason = "invalid_recipient"
	ReasonMediaUnavailable FailReason = "media_unavailable"
	ReasonMediaTooLarge    FailReason = "media_too_large"
	ReasonProviderError    FailReason = "provider_error"
)

// sendState is the worker's bookkeeping of an outgoing message, separate
// from its public status.
type sendState string

const (
	// sendWaiting: accepted, or parked until the session connects.
	sendWaiting sendState = "waiting"
	// sendSending: claimed by a worker until claim_until; handed_at is set
	// when it was handed to the provider.
	sendSending sendState = "sending"
	// sendDone: sent or failed; nothing more will be sent.
	sendDone sendState = "done"
)
