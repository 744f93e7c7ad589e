package session

// Worker command names, on the session-commands stream. The API writes them
// through the outbox; the session worker executes them.
const (
	CommandStart    = "session.start"
	CommandStop     = "session.stop"
	CommandLogout   = "session.logout"
	CommandDelete   = "session.delete"
	CommandPairCode = "session.pairCode"
)

// Start asks the worker to run the session (connect, or show a QR).
type Start struct{}

// EventType implements Event.
func (Start) EventType() string { return CommandStart }

// Stop asks the worker to disconnect the session and keep its pairing.
type Stop struct{}

// EventType implements Event.
func (Stop) EventType() string { return CommandStop }

// Logout asks the worker to unlink the session's device.
type Logout struct{}

// EventType implements Event.
func (Logout) EventType() string { return CommandLogout }

// Delete asks the worker to unlink the device and remove the session.
type Delete struct {
	Provider string `json:"provider"`
}

// EventType implements Event.
func (Delete) EventType() string { return CommandDelete }

// PairCode asks the worker for a phone-number pairing code; the answer is
// stored under RequestID for the waiting API call.
type PairCode struct {
	RequestID string `json:"requestId"`
	Phone     string `json:"phone"`
}

// EventType implements Event.
func (PairCode) EventType() string { return CommandPairCode }
