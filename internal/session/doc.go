// Package session is the session bounded context: WhatsApp sessions (a
// linked device per session), their lifecycle (QR, pairing code, connect,
// stop, logout, reconnect), the provider port that hides the WhatsApp
// library, the session worker's Manager that runs one provider client per
// session, and the HTTP API.
//
// The API process never talks to a provider: it writes commands to the
// session-commands stream through the outbox, and the worker (possibly
// another process) executes them. Provider events become domain events
// through the outbox in the same transaction as the session's state change.
package session
