// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) in
// a test and hands over every message it receives, parsed, so tests can read
// a mail and follow its link.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	// Header holds the parsed top-level header (Subject decoded).
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded alternative parts.
	Text string
	HTML string
	// TLS tells whether the message came over an encrypted connection.
	TLS bool
	// AuthUser is the username the client authenticated as, if any.
	AuthUser string
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first URL in the text part.
func (m Mail) Link() string {
	return linkPattern.FindString(m.Text)
}

// Token returns the token= parameter of the first link, or "".
func (m Mail) Token() string {
	u, err := url.Parse(m.Link())
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}

// Options configures a Server.
type Options struct {
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// Username and Password, when set, are the only accepted AUTH PLAIN
	// credentials (and AUTH is offered).
	Username, Password string
}

// Server is a running SMTP server.
type Server struct {
	Addr   string
	srv    *smtp.Server
	opts   Options
	mu     sync.Mutex
	inbox  []Mail
	notify chan struct{}
}

// NewServer starts a server on a free loopback port, stopped when the test
// ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{server: s, tls: isTLS, conn: c}, nil
	}))
	s.srv.Domain = "mailtest.local"
	s.srv.TLSConfig = opts.TLSConfig
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// URL is the WAGATE_SMTP_URL that reaches this server.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// Next waits for a mail to rcpt and removes it from the inbox; it fails the
// test when none arrives before the deadline.
func (s *Server) Next(t testing.TB, rcpt string, timeout time.Duration) Mail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m, ok := s.take(rcpt); ok {
			return m
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("mailtest: no mail to %s within %s", rcpt, timeout)
			return Mail{}
		}
	}
}

// Count is how many mails to rcpt wait in the inbox.
func (s *Server) Count(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.inbox {
		if hasRcpt(m, rcpt) {
			n++
		}
	}
	return n
}

func (s *Server) take(rcpt string) (Mail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.inbox {
		if hasRcpt(m, rcpt) {
			s.inbox = append(s.inbox[:i], s.inbox[i+1:]...)
			return m, true
		}
	}
	return Mail{}, false
}

func hasRcpt(m Mail, rcpt string) bool {
	for _, to := range m.To {
		if strings.EqualFold(to, rcpt) {
			return true
		}
	}
	return false
}

func (s *Server) deliver(m Mail) {
	s.mu.Lock()
	s.inbox = append(s.inbox, m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

type session struct {
	server   *Server
	conn     *smtp.Conn
	tls      bool
	from     string
	to       []string
	authUser string
}

func (s *session) AuthMechanisms() []string {
	if s.server.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.server.opts.Username || password != s.server.opts.Password {
			return errors.New("invalid credentials")
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.opts.Username != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "mailtest: unparseable message: " + err.Error()}
	}
	m.From, m.To, m.AuthUser = s.from, append([]string(nil), s.to...), s.authUser
	_, m.TLS = s.conn.TLSConnectionState()
	s.server.deliver(m)
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// parse reads a MIME message: a multipart/alternative with text and HTML,
// or a single text part.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	var m Mail
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, err
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Mail{}, err
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodeBody(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		m.Text = body
		return m, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Mail{}, err
		}
		body, err := decodeBody(p, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Mail{}, err
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
	return m, nil
}

func decodeBody(r io.Reader, encoding string) (string, error) {
	if strings.EqualFold(encoding, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
