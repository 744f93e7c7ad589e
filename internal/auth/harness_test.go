package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/mail"
	"github.com/wagate/wagate/internal/mail/mailtest"
	"github.com/wagate/wagate/internal/observe"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/user"
)

const (
	issuer   = "http://wagate.test"
	password = "correct horse battery"
)

// fastParams keep argon2id cheap in tests; production uses
// user.DefaultPasswordParams (checked in the user package's tests).
var fastParams = user.PasswordParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// clock is a settable clock shared by every service of a harness.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a real HTTP server (httpapi.Server with the user and auth
// routes and authenticator) over a real database, with a real SMTP server
// receiving the mail.
type harness struct {
	db        *store.DB
	url       string
	smtp      *mailtest.Server
	users     *user.Service
	auth      *auth.Service
	key       auth.SigningKey
	clock     *clock
	deliverer *mail.Deliverer

	metrics *prometheus.Registry

	mailMu  sync.Mutex
	handled map[string]bool
}

type harnessOptions struct {
	emailLimit, addressLimit auth.Limit
}

func newHarness(t *testing.T, d store.Dialect, opts harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	h := &harness{
		db: testenv.OpenDB(t, d), clock: &clock{now: time.Now().UTC()},
		smtp: mailtest.NewServer(t, mailtest.Options{}), handled: map[string]bool{},
		metrics: prometheus.NewRegistry(),
	}

	var err error
	h.users, err = user.NewService(user.Config{DB: h.db, Sessions: auth.SessionRevoker{}, PasswordParams: fastParams, Now: h.clock.Now}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if h.key, err = auth.LoadSigningKey(ctx, h.db, ""); err != nil {
		t.Fatal(err)
	}
	h.auth, err = auth.NewService(auth.Config{
		DB: h.db, Users: h.users, Key: h.key, Issuer: issuer, Now: h.clock.Now,
		EmailLimit: opts.emailLimit, AddressLimit: opts.addressLimit, Registerer: h.metrics,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", WithAPI: true}, logger, observe.NewMetrics())
	user.RegisterRoutes(srv, h.users)
	auth.RegisterRoutes(srv, h.auth)
	srv.SetAuthenticator(h.auth)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	h.url = ts.URL

	mailer, err := mail.NewSMTPMailer(mail.SMTPConfig{URL: h.smtp.URL(), From: "wagate <no-reply@wagate.test>"})
	if err != nil {
		t.Fatal(err)
	}
	h.deliverer, err = mail.NewDeliverer(mail.DelivererConfig{DB: h.db, Mailer: mailer, PublicURL: issuer}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
}

// problem is the RFC 9457 body of an error answer.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (r response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with content type %q, want application/problem+json (body %s)", r.status, ct, r.body)
	}
	var p problem
	r.decode(t, &p)
	return p
}

// expectProblem checks the status and that the problem type ends with code.
func (r response) expectProblem(t *testing.T, status int, code string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	p := r.problem(t)
	if !strings.HasSuffix(p.Type, "/"+code) {
		t.Fatalf("problem type = %q, want …/%s (detail %q)", p.Type, code, p.Detail)
	}
	return p
}

func (r response) expectStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
}

// do sends a request; body is JSON-encoded unless it is a string (sent as
// is); headers come in name, value pairs.
func (h *harness) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func apiKey(key string) []string { return []string{"X-Api-Key", key} }

// deliverMail hands every mail command in the outbox to the mail
// subscriber's handler, as the event log would. Commands already handled are
// skipped by the handler itself (it is idempotent), so no cursor is needed —
// a cursor on seq would skip rows of transactions that commit late. The
// runner itself is exercised in TestMailThroughTheEventLog.
func (h *harness) deliverMail(t *testing.T) {
	t.Helper()
	h.mailMu.Lock()
	defer h.mailMu.Unlock()
	rows, err := h.db.SQL.Query(`SELECT o.id, o.type, o.tenant_id, o.occurred_at, o.data FROM outbox o
		WHERE o.stream = $1 ORDER BY o.seq`, mail.Commands)
	if err != nil {
		t.Fatal(err)
	}
	var envs []eventlog.Envelope
	for rows.Next() {
		var env eventlog.Envelope
		var occurred int64
		var data string
		if err := rows.Scan(&env.ID, &env.Type, &env.TenantID, &occurred, &data); err != nil {
			t.Fatal(err)
		}
		if h.handled[env.ID] {
			continue
		}
		env.OccurredAt = time.UnixMilli(occurred)
		env.Data = json.RawMessage(data)
		envs = append(envs, env)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, env := range envs {
		if err := h.deliverer.Handle(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		h.handled[env.ID] = true
	}
}

// nextMail delivers pending mail and returns the next one to rcpt.
func (h *harness) nextMail(t *testing.T, rcpt string) mailtest.Mail {
	t.Helper()
	h.deliverMail(t)
	return h.smtp.Next(t, rcpt, 5*time.Second)
}

// noMail checks that nothing was mailed to rcpt.
func (h *harness) noMail(t *testing.T, rcpt string) {
	t.Helper()
	h.deliverMail(t)
	if n := h.smtp.Count(rcpt); n != 0 {
		t.Fatalf("%d unexpected mails to %s", n, rcpt)
	}
}

type registered struct {
	UserID string `json:"userId"`
	Status string `json:"status"`
}

type tokenPair struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

func (h *harness) register(t *testing.T, email string) registered {
	t.Helper()
	res := h.do(t, "POST", "/auth/register", map[string]string{"email": email, "password": password})
	res.expectStatus(t, http.StatusCreated)
	var r registered
	res.decode(t, &r)
	return r
}

// signUp registers, verifies through the mailed link and logs in.
func (h *harness) signUp(t *testing.T, email string) (string, tokenPair) {
	t.Helper()
	r := h.register(t, email)
	token := h.nextMail(t, email).Token()
	h.do(t, "POST", "/auth/verify", map[string]string{"token": token}).expectStatus(t, http.StatusOK)
	return r.UserID, h.login(t, email, password)
}

func (h *harness) login(t *testing.T, email, pw string) tokenPair {
	t.Helper()
	res := h.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": pw})
	res.expectStatus(t, http.StatusOK)
	var p tokenPair
	res.decode(t, &p)
	return p
}

// outboxRows returns (stream, type, data) of a tenant's outbox rows.
func (h *harness) outboxRows(t *testing.T, tenantID string) [][3]string {
	t.Helper()
	rows, err := h.db.SQL.Query(`SELECT stream, type, data FROM outbox WHERE tenant_id = $1 ORDER BY seq`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var r [3]string
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// counter reads a counter of the auth service's metrics; label is the
// value of its only label, or "" for a counter without labels.
func (h *harness) counter(t *testing.T, name, label string) float64 {
	t.Helper()
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
