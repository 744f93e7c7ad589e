// Package messaging is the messaging bounded context: sending messages with
// idempotency and delivery tracking, receiving them, receipts, history sync,
// persisted chats and cursor-paginated history, and inbound media.
//
// The flow:
//
//   - The API accepts a send: the message row (status pending) and its
//     session.sendMessage command are written in one transaction (Service.Send).
//   - The session worker executes the command (Worker): it claims the row,
//     records that it handed it to the provider, calls Sender.Send, and
//     records sent or failed together with message.sent / message.failed.
//     A session that is not connected parks the message until it reconnects
//     or WAGATE_SEND_TIMEOUT passes.
//   - The event consumer persists what the provider reports (Ingester):
//     message.received, session.messages.upsert, session.history.sync and
//     receipts, idempotently and in any order.
//   - The API reads chats and history with keyset pagination (Store).
package messaging
