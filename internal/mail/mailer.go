// Package mail sends wagate's transactional mail (email verification,
// password reset, notices). Mail is requested inside the transaction of the
// state change that needs it (Enqueue) and delivered by a subscriber on the
// mail-commands stream (Deliverer) through a Mailer: SMTP when
// WAGATE_SMTP_URL is set, otherwise the log, so a newcomer can follow the
// link without a mail server.
package mail

import (
	"context"
	"log/slog"
)

// Message is one rendered mail.
type Message struct {
	To      string
	Subject string
	// Text and HTML are the two alternative bodies.
	Text string
	HTML string
	// Link is the action link the mail carries, if any. Only LogMailer uses
	// it, to print something a person can follow.
	Link string
}

// Mailer delivers a rendered message. An error means "try again later".
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// LogMailer "sends" mail by logging it at INFO. It is the default when no
// SMTP server is configured: the link is the one thing a newcomer needs from
// a verification or reset mail, so it is logged in full. That is the one
// place a token is ever logged, and only when the operator chose no SMTP.
type LogMailer struct {
	Logger *slog.Logger
}

var _ Mailer = LogMailer{}

// Send logs the message's recipient, subject and link.
func (l LogMailer) Send(ctx context.Context, m Message) error {
	attrs := []any{"to", m.To, "subject", m.Subject}
	if m.Link != "" {
		attrs = append(attrs, "link", m.Link)
	}
	l.Logger.InfoContext(ctx, "mail not sent: no SMTP server configured (WAGATE_SMTP_URL); here it is", attrs...)
	return nil
}
