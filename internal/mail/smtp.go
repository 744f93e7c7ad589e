package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"time"
)

// SMTPConfig configures an SMTPMailer.
type SMTPConfig struct {
	// URL is smtp://user:pass@host:port (STARTTLS when the server offers it)
	// or smtps://… (TLS from the first byte). Credentials are optional.
	URL string
	// From is the sender, e.g. "wagate <no-reply@example.com>".
	From string
	// TLSConfig overrides the TLS settings (tests trust their own CA with
	// it); nil verifies the server against the system roots.
	TLSConfig *tls.Config
	// Timeout bounds one delivery, connection included. Default 30s.
	Timeout time.Duration
	// LocalName is sent in EHLO. Default "localhost".
	LocalName string
}

func (c *SMTPConfig) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.LocalName == "" {
		c.LocalName = "localhost"
	}
}

// SMTPMailer delivers mail to one SMTP server (a relay or submission port).
type SMTPMailer struct {
	cfg         SMTPConfig
	addr        string
	host        string
	implicitTLS bool
	username    string
	password    string
	from        *mail.Address
}

var _ Mailer = (*SMTPMailer)(nil)

// NewSMTPMailer validates cfg and returns a mailer. It does not connect.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	cfg.setDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("smtp: URL must be smtp://user:pass@host:port or smtps://…")
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if u.Scheme == "smtps" {
			port = "465"
		}
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", cfg.From, err)
	}
	m := &SMTPMailer{
		cfg:         cfg,
		addr:        net.JoinHostPort(u.Hostname(), port),
		host:        u.Hostname(),
		implicitTLS: u.Scheme == "smtps",
		from:        from,
	}
	if u.User != nil {
		m.username = u.User.Username()
		m.password, _ = u.User.Password()
	}
	return m, nil
}

// Send delivers m in one SMTP session: STARTTLS when offered, AUTH PLAIN when
// credentials were given (net/smtp refuses to send them in clear text except
// to localhost), then one message to one recipient.
func (s *SMTPMailer) Send(ctx context.Context, m Message) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", s.addr, err)
	}
	// net/smtp knows no contexts: the deadline bounds every read and write,
	// and cancellation closes the connection under it.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("smtp: STARTTLS: %w", err)
			}
		}
	}
	if s.username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	body, err := compose(s.from, m, time.Now())
	if err != nil {
		return err
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("smtp: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of data: %w", err)
	}
	// The server accepted the message; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTPMailer) dial(ctx context.Context) (net.Conn, error) {
	if s.implicitTLS {
		d := tls.Dialer{Config: s.tlsConfig()}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTPMailer) tlsConfig() *tls.Config {
	if s.cfg.TLSConfig != nil {
		c := s.cfg.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.host
		}
		return c
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}
