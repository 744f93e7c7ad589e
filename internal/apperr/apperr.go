// Package apperr gives domain errors a kind (not found, conflict, invalid, …)
// without tying the domain to HTTP. The HTTP layer maps kinds to status codes
// in one place (httpapi.problemFor).
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers that must react to it.
type Kind int

// The kinds an application error can have.
const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindUnauthorized
	KindForbidden
	KindRateLimited
	KindUnprocessable
	KindUnavailable
	KindGone
	KindTooLarge
	// KindMethodNotAllowed is produced by the router only (405).
	KindMethodNotAllowed
)

// Error is a classified application error. Code is a stable machine-readable
// slug (it becomes the problem type); Message is safe to show to clients.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// RetryAfterSeconds is set on rate-limit errors.
	RetryAfterSeconds int
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is match two errors of the same code, so a sentinel still
// matches after WithMessage gave it a more specific text.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Kind == e.Kind
}

// WithMessage returns a copy of e with a more specific client-facing text.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func newErr(k Kind, code, msg string) *Error { return &Error{Kind: k, Code: code, Message: msg} }

// Invalid is a malformed or semantically wrong input (400).
func Invalid(code, msg string) *Error { return newErr(KindInvalid, code, msg) }

// NotFound is a missing resource, or one of another tenant (404).
func NotFound(code, msg string) *Error { return newErr(KindNotFound, code, msg) }

// Conflict is a state that forbids the operation (409).
func Conflict(code, msg string) *Error { return newErr(KindConflict, code, msg) }

// Unauthorized is missing or bad credentials (401).
func Unauthorized(code, msg string) *Error { return newErr(KindUnauthorized, code, msg) }

// Forbidden is valid credentials without the right to act (403).
func Forbidden(code, msg string) *Error { return newErr(KindForbidden, code, msg) }

// RateLimited asks the client to come back later (429).
func RateLimited(code, msg string, retryAfterSeconds int) *Error {
	e := newErr(KindRateLimited, code, msg)
	e.RetryAfterSeconds = retryAfterSeconds
	return e
}

// Unprocessable is a well-formed request that cannot be honoured (422).
func Unprocessable(code, msg string) *Error { return newErr(KindUnprocessable, code, msg) }

// Unavailable is a dependency that is down (503).
func Unavailable(code, msg string) *Error { return newErr(KindUnavailable, code, msg) }

// Gone is a resource or position that no longer exists (410).
func Gone(code, msg string) *Error { return newErr(KindGone, code, msg) }

// TooLarge is a payload over a limit (413).
func TooLarge(code, msg string) *Error { return newErr(KindTooLarge, code, msg) }

// As returns the classified error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf returns the kind of err, KindInternal when it is unclassified.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return KindInternal
}
