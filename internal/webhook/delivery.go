package webhook

import "time"

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// The delivery statuses: pending until the receiver answers 2xx
// (succeeded) or the delivery is given up (failed).
const (
	StatusPending   DeliveryStatus = "pending"
	StatusSucceeded DeliveryStatus = "succeeded"
	StatusFailed    DeliveryStatus = "failed"
)

// Delivery is one event's delivery to one endpoint, as the API shows it.
type Delivery struct {
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	Status     DeliveryStatus
	Attempts   int
	// LastStatusCode is the HTTP status of the last attempt; 0 when it got
	// no response (connection refused, timeout) or none was made yet.
	LastStatusCode int
	// LastError explains the last failed attempt.
	LastError string
	// NextAttemptAt is set while the delivery is pending.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// CompletedAt is when it succeeded or was given up.
	CompletedAt time.Time
}
