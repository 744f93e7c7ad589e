package messaging

import "github.com/wagate/wagate/internal/apperr"

// Errors of the messaging context. They are apperr values, so the HTTP layer
// maps them to problems without knowing this package.
var (
	// ErrMessageNotFound is a missing message, or one of another tenant.
	ErrMessageNotFound = apperr.NotFound("message-not-found", "message not found")
	// ErrChatNotFound is a chat the session has no record of.
	ErrChatNotFound = apperr.NotFound("chat-not-found", "chat not found")
	// ErrSessionRequired: chat endpoints need ?sessionId=.
	ErrSessionRequired = apperr.Invalid("session-id-required", "the sessionId query parameter is required")
	// ErrInvalidContent: the body does not describe exactly one message.
	ErrInvalidContent = apperr.Invalid("invalid-message",
		"give exactly one of text, image, video, audio, document, location, contact or reaction")
	// ErrInvalidMedia: a media object is malformed.
	ErrInvalidMedia = apperr.Invalid("invalid-media", "media needs exactly one of url or base64, and a valid mimetype")
	// ErrMediaTooLarge: inline media over WAGATE_MAX_MEDIA_BYTES.
	ErrMediaTooLarge = apperr.TooLarge("media-too-large", "media exceeds the size limit")
	// ErrRecipientMismatch: "to" names another chat than the URL.
	ErrRecipientMismatch = apperr.Invalid("recipient-mismatch", "to does not match the chat in the URL")
	// ErrIdempotencyKeyReused: the key was used with a different request.
	ErrIdempotencyKeyReused = apperr.Unprocessable("idempotency-key-reused",
		"this Idempotency-Key was already used with a different request")
	// ErrInvalidIdempotencyKey: empty after trimming, too long or not printable.
	ErrInvalidIdempotencyKey = apperr.Invalid("invalid-idempotency-key",
		"Idempotency-Key must be 1 to 255 printable ASCII characters")
	// ErrInvalidCursor: a cursor this API did not produce.
	ErrInvalidCursor = apperr.Invalid("invalid-cursor", "cursor is not valid for this list")
	// ErrQuotedNotSent: replyTo or reaction names a message without a
	// WhatsApp id yet.
	ErrQuotedNotSent = apperr.Conflict("quoted-message-not-sent",
		"the referenced message has not been sent yet, so it cannot be quoted or reacted to")
	// ErrNoMedia: the message has no downloadable media.
	ErrNoMedia = apperr.NotFound("no-media", "this message has no media")
	// ErrMediaPending: the media is being fetched; ask again shortly.
	ErrMediaPending = apperr.Unavailable("media-pending", "the media is being downloaded; try again in a moment")
	// ErrMediaUnavailable: the worker could not download the media.
	ErrMediaUnavailable = apperr.Unavailable("media-unavailable", "the media could not be downloaded from WhatsApp")

	// ErrSessionNotConnected is how a Sender reports a session that is not
	// linked and online (or not run by this worker). errors.Is matches any
	// apperr error with the same code, so session.ErrNotConnected matches it
	// without this package importing the session context.
	ErrSessionNotConnected = apperr.Conflict("session-not-connected", "session is not connected")
)
