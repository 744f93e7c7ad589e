// Package user is the identity context: who a user (a tenant) is, the
// account's life cycle (pending_verification → active, suspended), email
// verification and password reset. Logging in and credentials for the API
// belong to package auth, which asks this package to check passwords.
package user

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate/internal/apperr"
)

// Status is where an account is in its life cycle.
type Status string

// The account states. A new account waits for its email to be verified; only
// active accounts can log in; a suspended account keeps its data but cannot
// act.
const (
	StatusPendingVerification Status = "pending_verification"
	StatusActive              Status = "active"
	StatusSuspended           Status = "suspended"
)

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	switch s {
	case StatusPendingVerification, StatusActive, StatusSuspended:
		return true
	}
	return false
}

// Password length bounds. No composition rules (NIST SP 800-63B): length is
// what makes a password strong, and the upper bound only keeps hashing cheap.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
	maxEmailLength    = 254
)

// Domain errors. They are classified so the HTTP layer can answer them
// without knowing this package.
var (
	ErrInvalidEmail     = apperr.Invalid("invalid-email", "email is not a valid address")
	ErrPasswordLength   = apperr.Invalid("invalid-password", "password must be 8 to 256 characters long")
	ErrAlreadyVerified  = apperr.Conflict("already-verified", "the email address is already verified")
	ErrSuspended        = apperr.Forbidden("account-suspended", "the account is suspended")
	ErrEmailNotVerified = apperr.Forbidden("email-not-verified", "verify your email address before logging in")
	ErrNotFound         = apperr.NotFound("user-not-found", "user not found")
)

// User is the account aggregate. Its fields change only through methods
// that enforce the life cycle; every change records a domain event that the
// store writes to the outbox with the new state.
type User struct {
	id                string
	email             string
	passwordHash      string
	status            Status
	createdAt         time.Time
	updatedAt         time.Time
	verifiedAt        time.Time
	passwordChangedAt time.Time

	events []Event
}

// NewUser creates an account waiting for email verification. id must be
// fresh; passwordHash is the output of HashPassword.
func NewUser(id, email, passwordHash string, now time.Time) (*User, error) {
	if id == "" {
		return nil, apperr.Invalid("invalid-user-id", "user id must not be empty")
	}
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if passwordHash == "" {
		return nil, apperr.Invalid("invalid-password", "password hash must not be empty")
	}
	u := &User{
		id:                id,
		email:             normalized,
		passwordHash:      passwordHash,
		status:            StatusPendingVerification,
		createdAt:         now,
		updatedAt:         now,
		passwordChangedAt: now,
	}
	u.record(Registered{UserID: id, Email: normalized, Status: string(StatusPendingVerification)})
	return u, nil
}

// LoadUser rebuilds a user from its stored fields. It is not a constructor:
// it validates nothing beyond the status and records no event, because the
// data was valid when it was saved.
func LoadUser(id, email, passwordHash string, status Status, createdAt, updatedAt, verifiedAt, passwordChangedAt time.Time) (*User, error) {
	if !status.Valid() {
		return nil, apperr.Invalid("invalid-status", "unknown user status "+string(status))
	}
	return &User{
		id: id, email: email, passwordHash: passwordHash, status: status,
		createdAt: createdAt, updatedAt: updatedAt, verifiedAt: verifiedAt, passwordChangedAt: passwordChangedAt,
	}, nil
}

// ID is the user id, which is also the tenant id of everything the user owns.
func (u *User) ID() string { return u.id }

// Email is the normalized (lower-case) address.
func (u *User) Email() string { return u.email }

// PasswordHash is the PHC-encoded argon2id hash.
func (u *User) PasswordHash() string { return u.passwordHash }

// Status is the account state.
func (u *User) Status() Status { return u.status }

// CreatedAt is when the account was registered.
func (u *User) CreatedAt() time.Time { return u.createdAt }

// UpdatedAt is when the account last changed.
func (u *User) UpdatedAt() time.Time { return u.updatedAt }

// VerifiedAt is when the email was verified; zero while pending.
func (u *User) VerifiedAt() time.Time { return u.verifiedAt }

// PasswordChangedAt is when the password was last set.
func (u *User) PasswordChangedAt() time.Time { return u.passwordChangedAt }

// Verify activates a pending account once its owner proved they read the
// mailbox.
func (u *User) Verify(now time.Time) error {
	switch u.status {
	case StatusActive:
		return ErrAlreadyVerified
	case StatusSuspended:
		return ErrSuspended
	}
	u.status = StatusActive
	u.verifiedAt = now
	u.updatedAt = now
	u.record(Verified{UserID: u.id, Email: u.email})
	return nil
}

// RequestPasswordReset records that a reset link is on its way. Only active
// accounts can reset: a pending account verifies first, a suspended one
// cannot act.
func (u *User) RequestPasswordReset(now time.Time) error {
	switch u.status {
	case StatusPendingVerification:
		return ErrEmailNotVerified
	case StatusSuspended:
		return ErrSuspended
	}
	u.updatedAt = now
	u.record(PasswordResetRequested{UserID: u.id})
	return nil
}

// ChangePassword replaces the password hash.
func (u *User) ChangePassword(passwordHash string, now time.Time) error {
	if u.status == StatusSuspended {
		return ErrSuspended
	}
	if passwordHash == "" {
		return apperr.Invalid("invalid-password", "password hash must not be empty")
	}
	u.passwordHash = passwordHash
	u.passwordChangedAt = now
	u.updatedAt = now
	u.record(PasswordChanged{UserID: u.id})
	return nil
}

// Suspend blocks the account. Suspending twice is a no-op.
func (u *User) Suspend(now time.Time) {
	if u.status == StatusSuspended {
		return
	}
	u.status = StatusSuspended
	u.updatedAt = now
}

// CanLogIn says why an account whose password was right may still not log
// in, or nil.
func (u *User) CanLogIn() error {
	switch u.status {
	case StatusPendingVerification:
		return ErrEmailNotVerified
	case StatusSuspended:
		return ErrSuspended
	}
	return nil
}

// PopEvents returns the events recorded since the last call and forgets
// them; the store writes them to the outbox with the state they describe.
func (u *User) PopEvents() []Event {
	ev := u.events
	u.events = nil
	return ev
}

func (u *User) record(e Event) { u.events = append(u.events, e) }

// NormalizeEmail validates an address and returns it trimmed and in lower
// case, so one mailbox is one account whatever the caller typed.
func NormalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || len(email) > maxEmailLength {
		return "", ErrInvalidEmail
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || !strings.Contains(email[at+1:], ".") {
		return "", ErrInvalidEmail
	}
	return email, nil
}

// ValidatePassword checks a new password's length in characters (not bytes).
func ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength || n > MaxPasswordLength {
		return ErrPasswordLength
	}
	return nil
}
