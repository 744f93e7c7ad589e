// Package e2e holds wagate's end-to-end tests against the real WhatsApp
// client: a whole wagate process (app.NewWithOptions, role serve) whose
// whatsmeow sessions are pointed at wafake, a fake WhatsApp server on
// loopback, driven only through the public HTTP API and the WebSocket, in
// both storage modes (SQLite with the embedded event log; PostgreSQL with
// Redis Streams). The package has no code of its own; everything is in its
// tests (see docs/whatsmeow-testing.md).
package e2e
