// Package cloud is the "cloud" session provider: Meta's official WhatsApp
// Cloud API behind the same session, messaging and event model as the
// WhatsApp Web providers.
//
// A cloud session is created with the number's credentials (phone number
// id, access token, app secret, webhook verify token), kept encrypted with a
// key derived from WAGATE_SECRET_KEY. The worker's client checks the token
// with a Graph API call (connected, no QR), sends through
// POST /{version}/{phone-number-id}/messages and maps Graph error codes to
// message.failed reasons.
//
// Inbound messages and statuses arrive at POST /webhooks/messages. The API
// verifies X-Hub-Signature-256 with the app secret of the session the
// payload names, records what it has not seen before and writes the payload
// as a cloud.webhook command through the outbox, all in one transaction,
// before answering 200. The session's worker queues the command in the
// session's inbox and its client hands the messages and statuses to the
// session's event sink, like any other provider.
package cloud
