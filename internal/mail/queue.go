package mail

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
)

// Commands is the stream that carries mail requests to the mail subscriber.
// It is separate from eventlog.DomainEvents so nothing about mail reaches
// tenants' WebSockets and webhooks, and its entries hold only a row id: the
// token a mail carries stays in the outgoing_mail table, never in the event
// log or Redis.
const Commands = "mail-commands"

// TypeRequested is the type of the command that asks for one mail.
const TypeRequested = "mail.requested"

// Requested is the mail.requested command: "deliver outgoing_mail row MailID".
type Requested struct {
	MailID string `json:"mailId"`
}

// EventType implements eventlog.Event.
func (Requested) EventType() string { return TypeRequested }

// Request is one mail to send.
type Request struct {
	// TenantID is the user the mail is about (the recipient's account).
	TenantID string
	// To is the recipient's address.
	To string
	// Kind selects the templates.
	Kind Kind
	// Token is the one-time token the link carries, for kinds with a link.
	Token string
}

// Enqueue records a mail inside the caller's transaction: the mail is sent
// if and only if the transaction commits, exactly like an event.
func Enqueue(ctx context.Context, tx *sql.Tx, r Request, now time.Time) error {
	if r.TenantID == "" || r.To == "" || !r.Kind.Valid() {
		return fmt.Errorf("enqueue mail: incomplete request (tenant %q, kind %q)", r.TenantID, r.Kind)
	}
	id := eventlog.NewID()
	var token any
	if r.Token != "" {
		token = r.Token
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outgoing_mail (id, tenant_id, recipient, kind, token, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, r.TenantID, r.To, string(r.Kind), token, now.UnixMilli()); err != nil {
		return fmt.Errorf("enqueue %s mail: %w", r.Kind, err)
	}
	env, err := eventlog.NewEnvelope(ctx, r.TenantID, "", Requested{MailID: id})
	if err != nil {
		return err
	}
	return eventlog.Append(ctx, tx, Commands, env)
}

// RecentlyQueued reports whether a mail of this kind was queued for the
// tenant since the given time. Callers use it as a cooldown, so repeated
// "resend" or "forgot" requests cannot flood someone's mailbox.
func RecentlyQueued(ctx context.Context, tx *sql.Tx, tenantID string, kind Kind, since time.Time) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outgoing_mail
		WHERE tenant_id = $1 AND kind = $2 AND created_at > $3`, tenantID, string(kind), since.UnixMilli()).Scan(&n); err != nil {
		return false, fmt.Errorf("recent %s mail for %s: %w", kind, tenantID, err)
	}
	return n > 0, nil
}
