package cloud

import (
	"fmt"
	"net/http"

	"github.com/wagate/wagate/internal/apperr"
)

// message.failed reasons of the cloud provider (stable codes).
const (
	// ReasonReengagementWindow: more than 24 hours passed since the contact
	// last wrote; only approved templates may be sent (Graph code 131047).
	ReasonReengagementWindow = "reengagement_window"
	// ReasonRateLimited: Meta's throughput or pair rate limit was hit
	// (130429, 131056, 131048, 4, 80007). Sends are retried until
	// WAGATE_SEND_TIMEOUT before failing with it.
	ReasonRateLimited = "rate_limited"
	// ReasonInvalidRecipient: the number is not on WhatsApp or not allowed
	// (131026, 131030, 131021).
	ReasonInvalidRecipient = "invalid_recipient"
	// ReasonAuthFailed: Meta rejected the access token (190); the session
	// goes disconnected until its credentials are fixed.
	ReasonAuthFailed = "auth_failed"
	// ReasonMediaUnavailable: the media could not be uploaded to Meta.
	ReasonMediaUnavailable = "media_unavailable"
	// ReasonProviderError: any other Graph API error.
	ReasonProviderError = "provider_error"
)

// GraphError is an error answer of the Graph API:
// {"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}.
// It tells the messaging worker the message.failed reason (FailReason) and
// whether a later attempt may succeed (Retryable).
type GraphError struct {
	// HTTPStatus is the response status.
	HTTPStatus int
	// Code and Subcode are Meta's error codes; Parsed is false when the
	// body was not a Graph error object (Code is then meaningless).
	Code, Subcode int
	Parsed        bool
	Type          string
	Message       string
	Details       string
	// TraceID is Meta's fbtrace_id, for support requests.
	TraceID string
}

func (e *GraphError) Error() string {
	if !e.Parsed {
		return fmt.Sprintf("graph api: unexpected answer %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
	}
	s := fmt.Sprintf("graph api: %s (code %d", e.Message, e.Code)
	if e.Subcode != 0 {
		s += fmt.Sprintf(", subcode %d", e.Subcode)
	}
	s += ")"
	if e.Details != "" {
		s += ": " + e.Details
	}
	return s
}

// FailReason is the message.failed reason of a send that got this error.
func (e *GraphError) FailReason() string { return reasonFor(e.Code, e.HTTPStatus, e.Parsed) }

// Retryable reports whether the call may succeed later: rate limits and
// Meta's own trouble (5xx, temporary codes).
func (e *GraphError) Retryable() bool {
	if e.Parsed && isRateLimit(e.Code) {
		return true
	}
	switch e.Code {
	case 1, 2, 131000, 131016:
		if e.Parsed {
			return true
		}
	}
	return e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests
}

// authFailed reports whether Meta refused the access token.
func (e *GraphError) authFailed() bool {
	return e.FailReason() == ReasonAuthFailed
}

func isRateLimit(code int) bool {
	switch code {
	case 4, 80007, 130429, 131048, 131056:
		return true
	}
	return false
}

// reasonFor maps a Graph error code (and HTTP status) to a reason.
func reasonFor(code, httpStatus int, parsed bool) string {
	switch {
	case httpStatus == http.StatusUnauthorized:
		return ReasonAuthFailed
	case !parsed && httpStatus != 0:
		if httpStatus == http.StatusTooManyRequests {
			return ReasonRateLimited
		}
		return ReasonProviderError
	case code == 131047:
		return ReasonReengagementWindow
	case isRateLimit(code):
		return ReasonRateLimited
	case code == 131026 || code == 131030 || code == 131021:
		return ReasonInvalidRecipient
	case code == 190 || code == 0:
		return ReasonAuthFailed
	}
	return ReasonProviderError
}

// sendFailure is a send refused before reaching Meta (a recipient the Cloud
// API cannot address, media that could not be uploaded); like GraphError it
// carries its message.failed reason.
type sendFailure struct {
	reason string
	msg    string
}

func (e *sendFailure) Error() string      { return e.msg }
func (e *sendFailure) FailReason() string { return e.reason }
func (e *sendFailure) Retryable() bool    { return false }

// Errors of the cloud context's API.
var (
	// ErrSecretKeyRequired: cloud credentials cannot be stored without a key.
	ErrSecretKeyRequired = apperr.Unprocessable("secret-key-required",
		"cloud sessions need WAGATE_SECRET_KEY (at least 16 characters) to encrypt their credentials; set it and restart wagate")
	// ErrInvalidSettings: malformed cloud credentials.
	ErrInvalidSettings = apperr.Invalid("invalid-cloud-settings",
		"cloud settings are malformed")
	// ErrBadSignature: a webhook delivery without a valid X-Hub-Signature-256.
	ErrBadSignature = apperr.Unauthorized("invalid-signature",
		"X-Hub-Signature-256 is missing or does not match the app secret of the session this payload is for")
	// ErrVerifyTokenMismatch: the handshake's verify token matches no session.
	ErrVerifyTokenMismatch = apperr.Forbidden("verify-token-mismatch",
		"hub.verify_token matches no cloud session")
	// ErrInvalidHandshake: not a subscribe handshake.
	ErrInvalidHandshake = apperr.Invalid("invalid-handshake",
		"expected hub.mode=subscribe with hub.verify_token and hub.challenge")
	// ErrInvalidPayload: the body is not a webhook payload.
	ErrInvalidPayload = apperr.Invalid("invalid-webhook-payload",
		"the body is not a WhatsApp Business Account webhook payload")
	// ErrNotCloudSession: the session is not of the cloud provider.
	ErrNotCloudSession = apperr.Conflict("not-a-cloud-session",
		"this session does not use the cloud provider")
)
