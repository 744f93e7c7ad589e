package session

import "github.com/wagate/wagate/internal/apperr"

// Errors of the session context. They are apperr values so the HTTP layer
// maps them to problems without knowing this package.
var (
	// ErrNotFound is a missing session or one of another tenant.
	ErrNotFound = apperr.NotFound("session-not-found", "session not found")
	// ErrNotConnected: the session is not linked and online right now (or
	// not run by this worker). Callers may retry later.
	ErrNotConnected = apperr.Conflict("session-not-connected", "session is not connected")
	// ErrNoQR: there is no QR code to show now (connected, stopped, or the
	// worker has not produced one yet).
	ErrNoQR = apperr.Conflict("no-qr", "no QR code is available for this session now")
	// ErrInvalidName is a session name that is too long or not printable.
	ErrInvalidName = apperr.Invalid("invalid-session-name", "name must be at most 100 printable characters")
	// ErrUnknownProvider is a provider this deployment does not offer.
	ErrUnknownProvider = apperr.Unprocessable("unknown-provider", "unknown or disabled provider")
	// ErrInvalidPhone is a phone number that is not E.164.
	ErrInvalidPhone = apperr.Invalid("invalid-phone", "phone must be an E.164 number such as +15550001111")
	// ErrAlreadyConnected: the operation needs an unlinked session.
	ErrAlreadyConnected = apperr.Conflict("session-already-connected", "session is already connected")
	// ErrPairCodeTimeout: the worker did not produce a pairing code in time.
	ErrPairCodeTimeout = apperr.Unavailable("pair-code-timeout", "the session worker did not answer in time; try again")
	// ErrPairCodeFailed: the provider refused to produce a pairing code.
	ErrPairCodeFailed = apperr.Unprocessable("pair-code-failed", "WhatsApp refused to produce a pairing code")
	// ErrProviderUnsupported: the provider cannot do this operation.
	ErrProviderUnsupported = apperr.Unprocessable("provider-unsupported", "the session's provider does not support this operation")
)
