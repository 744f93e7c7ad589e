package cloud

import "encoding/json"

// CommandWebhook carries an accepted webhook payload to the session's worker
// (session-commands stream).
const CommandWebhook = "cloud.webhook"

// WebhookCommand is one change value of a verified webhook delivery for one
// session, holding only the messages and statuses not accepted before.
type WebhookCommand struct {
	PhoneNumberID string          `json:"phoneNumberId"`
	Value         json.RawMessage `json:"value"`
}

// EventType implements session.Event.
func (WebhookCommand) EventType() string { return CommandWebhook }

// CommandCredentialsChanged tells the worker running a cloud session that
// its credentials were replaced: the client reconnects with them.
const CommandCredentialsChanged = "cloud.credentialsChanged"

// CredentialsChanged is the payload of CommandCredentialsChanged.
type CredentialsChanged struct{}

// EventType implements session.Event.
func (CredentialsChanged) EventType() string { return CommandCredentialsChanged }
