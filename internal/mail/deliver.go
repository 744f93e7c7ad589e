package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
)

// SubscriberName keys the mail subscriber's cursor / consumer group.
const SubscriberName = "mail.deliver"

// DelivererConfig configures a Deliverer.
type DelivererConfig struct {
	DB     *store.DB
	Mailer Mailer
	// PublicURL is WAGATE_PUBLIC_URL, the base of every link.
	PublicURL string
	// Registerer receives the wagate_mail_sent_total counter; nil skips it.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Deliverer sends the mail that Enqueue recorded, one mail.requested command
// at a time.
type Deliverer struct {
	cfg    DelivererConfig
	logger *slog.Logger
	sent   *prometheus.CounterVec
}

// NewDeliverer validates cfg and returns a deliverer.
func NewDeliverer(cfg DelivererConfig, logger *slog.Logger) (*Deliverer, error) {
	if cfg.DB == nil || cfg.Mailer == nil {
		return nil, errors.New("mail deliverer: DB and Mailer are required")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("mail deliverer: PublicURL is required for links")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Deliverer{cfg: cfg, logger: logger}
	d.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wagate_mail_sent_total",
		Help: "Mail handed to the mailer, by kind and result (sent, failed).",
	}, []string{"kind", "result"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(d.sent); err != nil {
			return nil, fmt.Errorf("mail deliverer metrics: %w", err)
		}
	}
	return d, nil
}

// Subscription is the mail subscriber for the event-consumer role.
func (d *Deliverer) Subscription() eventlog.Subscription {
	return eventlog.Subscription{
		Name:    SubscriberName,
		Stream:  Commands,
		Types:   []string{TypeRequested},
		Handler: d.Handle,
	}
}

// Handle sends the mail a mail.requested command points at. It is
// idempotent: a mail already sent is not sent again (a crash between the SMTP
// hand-off and the bookkeeping can still send twice — at-least-once, like
// every subscriber). Once sent, the row's token is erased.
func (d *Deliverer) Handle(ctx context.Context, env eventlog.Envelope) error {
	if env.Type != TypeRequested {
		return nil
	}
	var cmd Requested
	if err := env.Decode(&cmd); err != nil {
		// A malformed command never becomes well-formed: drop it loudly.
		d.logger.ErrorContext(ctx, "mail command dropped", "eventId", env.ID, "error", err)
		return nil
	}
	var (
		recipient, kind string
		token           sql.NullString
		sentAt          sql.NullInt64
	)
	err := d.cfg.DB.SQL.QueryRowContext(ctx, `SELECT recipient, kind, token, sent_at FROM outgoing_mail
		WHERE id = $1 AND tenant_id = $2`, cmd.MailID, env.TenantID).Scan(&recipient, &kind, &token, &sentAt)
	if errors.Is(err, sql.ErrNoRows) {
		d.logger.WarnContext(ctx, "mail command for an unknown mail", "mailId", cmd.MailID, "tenantId", env.TenantID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("load mail %s: %w", cmd.MailID, err)
	}
	if sentAt.Valid {
		return nil
	}
	msg, err := Render(Kind(kind), recipient, token.String, d.cfg.PublicURL)
	if err != nil {
		d.logger.ErrorContext(ctx, "mail dropped: cannot render", "mailId", cmd.MailID, "kind", kind, "error", err)
		return nil
	}
	if err := d.cfg.Mailer.Send(ctx, msg); err != nil {
		d.sent.WithLabelValues(kind, "failed").Inc()
		return fmt.Errorf("send %s mail %s: %w", kind, cmd.MailID, err)
	}
	d.sent.WithLabelValues(kind, "sent").Inc()
	if _, err := d.cfg.DB.SQL.ExecContext(ctx, `UPDATE outgoing_mail SET sent_at = $1, token = NULL
		WHERE id = $2 AND tenant_id = $3`, d.cfg.Now().UnixMilli(), cmd.MailID, env.TenantID); err != nil {
		return fmt.Errorf("mark mail %s sent: %w", cmd.MailID, err)
	}
	d.logger.InfoContext(ctx, "mail handed to the mailer", "mailId", cmd.MailID, "kind", kind)
	return nil
}

// NewMailer picks the mailer for the configuration: SMTP when smtpURL is
// set, the log otherwise.
func NewMailer(smtpURL, from string, logger *slog.Logger) (Mailer, error) {
	if smtpURL == "" {
		return LogMailer{Logger: logger}, nil
	}
	return NewSMTPMailer(SMTPConfig{URL: smtpURL, From: from})
}
