package user

// Event is a domain event of the user context. Every event goes to the
// domain-events stream with the user id as tenant id, so it reaches the user's
// own WebSocket and webhooks: events never carry secrets (no tokens, no
// password hashes). Mail that needs a token travels separately (package mail).
type Event interface {
	EventType() string
}

// Wire names of the user events; public, keep them stable.
const (
	TypeRegistered             = "user.registered"
	TypeVerified               = "user.verified"
	TypePasswordResetRequested = "user.password_reset_requested"
	TypePasswordChanged        = "user.password_changed"
)

// Registered is recorded when an account is created.
type Registered struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

// EventType implements Event.
func (Registered) EventType() string { return TypeRegistered }

// Verified is recorded when the email is verified and the account turns active.
type Verified struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
}

// EventType implements Event.
func (Verified) EventType() string { return TypeVerified }

// PasswordResetRequested is recorded when a reset link is mailed.
type PasswordResetRequested struct {
	UserID string `json:"userId"`
}

// EventType implements Event.
func (PasswordResetRequested) EventType() string { return TypePasswordResetRequested }

// PasswordChanged is recorded when the password is replaced; every refresh
// token of the user is revoked in the same transaction.
type PasswordChanged struct {
	UserID string `json:"userId"`
}

// EventType implements Event.
func (PasswordChanged) EventType() string { return TypePasswordChanged }
