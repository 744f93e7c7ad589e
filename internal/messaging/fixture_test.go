package messaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
)

// errPhoneOffline is what the session Manager returns for a session that is
// not connected (same apperr code as session.ErrNotConnected).
var errPhoneOffline = apperr.Conflict("session-not-connected", "session is not connected")

// fakePhone is a Sender standing in for the session worker and WhatsApp: it
// records every message it is asked to send and, like WhatsApp, treats
// messages with the same WhatsApp id as one message.
type fakePhone struct {
	mu        sync.Mutex
	offline   map[string]bool // session id → not connected
	calls     []wa.OutgoingMessage
	delivered map[string]wa.OutgoingMessage // WhatsApp id → message
	sendErr   error                         // returned by the next Send
	reads     []fakeRead
	media     map[string][]byte // WhatsApp id → inbound media bytes
	downloads int
}

type fakeRead struct {
	sessionID, chatJID string
	ids                []string
}

func newFakePhone() *fakePhone {
	return &fakePhone{offline: map[string]bool{}, delivered: map[string]wa.OutgoingMessage{}, media: map[string][]byte{}}
}

// waID derives a WhatsApp message id from wagate's id, as providers do.
func waID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "3EB0" + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

func (p *fakePhone) setOnline(sessionID string, online bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.offline[sessionID] = !online
}

func (p *fakePhone) Send(_ context.Context, _, sessionID string, msg wa.OutgoingMessage) (wa.SendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline[sessionID] {
		return wa.SendResult{}, errPhoneOffline
	}
	p.calls = append(p.calls, msg)
	if err := p.sendErr; err != nil {
		p.sendErr = nil
		return wa.SendResult{}, err
	}
	id := waID(msg.ID)
	p.delivered[id] = msg
	return wa.SendResult{MessageID: id, Timestamp: time.UnixMilli(1_900_000_000_000 + int64(len(p.calls)))}, nil
}

func (p *fakePhone) MarkRead(_ context.Context, _, sessionID, chatJID string, ids []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline[sessionID] {
		return errPhoneOffline
	}
	p.reads = append(p.reads, fakeRead{sessionID, chatJID, ids})
	return nil
}

func (p *fakePhone) DownloadMedia(_ context.Context, _, sessionID string, m wa.Message) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline[sessionID] {
		return nil, errPhoneOffline
	}
	p.downloads++
	b, ok := p.media[m.MessageID]
	if !ok {
		return nil, fmt.Errorf("no media for %s", m.MessageID)
	}
	return b, nil
}

func (p *fakePhone) sentTexts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		out = append(out, c.Content.Text)
	}
	return out
}

func (p *fakePhone) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// fakeSessions is the session store as messaging sees it.
type fakeSessions struct {
	mu       sync.Mutex
	sessions map[string]string // session id → tenant id
}

func (s *fakeSessions) add(tenantID, sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sessionID] = tenantID
}

func (s *fakeSessions) Exists(_ context.Context, tenantID, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sessionID] != tenantID {
		return apperr.NotFound("session-not-found", "session not found")
	}
	return nil
}

// clock is a settable time source.
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

const (
	tenantA  = "tenant-a"
	tenantB  = "tenant-b"
	sessionA = "session-a"
	sessionB = "session-b"
	alice    = "15550001111@s.whatsapp.net"
	bob      = "15550002222@s.whatsapp.net"
)

// fixture is one test's messaging context over a fresh database.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	dialect  store.Dialect
	db       *store.DB
	clock    *clock
	store    *Store
	svc      *Service
	worker   *Worker
	ingester *Ingester
	phone    *fakePhone
	sessions *fakeSessions
	mediaDir string

	mu   sync.Mutex
	seen map[string]int64 // stream → last outbox seq handed to handlers
}

func newFixture(t *testing.T, d store.Dialect) *fixture {
	t.Helper()
	db := testenv.OpenDB(t, d)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := &clock{now: time.Now().UTC().Truncate(time.Millisecond)}
	st := NewStore(db, clk.Now)
	sessions := &fakeSessions{sessions: map[string]string{}}
	sessions.add(tenantA, sessionA)
	sessions.add(tenantA, sessionB)
	sessions.add(tenantB, "session-of-b")
	phone := newFakePhone()
	mediaDir := t.TempDir()
	svc, err := NewService(ServiceConfig{MaxMediaBytes: 1 << 20, MediaDir: mediaDir, MediaWait: 10 * time.Second, Now: clk.Now},
		st, sessions, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(WorkerConfig{SendTimeout: 5 * time.Minute, MaxMediaBytes: 1 << 20, AllowPrivateMediaURLs: true,
		CallTimeout: 5 * time.Second, ScanInterval: 5 * time.Millisecond, Now: clk.Now}, st, phone, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, ctx: context.Background(), dialect: d, db: db, clock: clk, store: st, svc: svc, worker: w,
		ingester: NewIngester(st, logger, nil), phone: phone, sessions: sessions, mediaDir: mediaDir,
		seen: map[string]int64{},
	}
}

// eachDialect runs a test against SQLite and PostgreSQL.
func eachDialect(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, d))
		})
	}
}

// outbox returns the envelopes of a stream after seq, in commit order.
func (f *fixture) outbox(stream string, after int64) ([]eventlog.Envelope, int64) {
	f.t.Helper()
	rows, err := f.db.SQL.QueryContext(f.ctx, `SELECT seq, id, type, tenant_id, session_id, occurred_at, data
		FROM outbox WHERE stream = $1 AND seq > $2 ORDER BY seq`, stream, after)
	if err != nil {
		f.t.Fatalf("read outbox: %v", err)
	}
	defer rows.Close()
	var out []eventlog.Envelope
	last := after
	for rows.Next() {
		var e eventlog.Envelope
		var at int64
		var data string
		if err := rows.Scan(&last, &e.ID, &e.Type, &e.TenantID, &e.SessionID, &at, &data); err != nil {
			f.t.Fatalf("read outbox: %v", err)
		}
		e.OccurredAt, e.Data = store.FromMillis(at), json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatalf("read outbox: %v", err)
	}
	return out, last
}

// next returns the stream's envelopes not handed out yet.
func (f *fixture) next(stream string) []eventlog.Envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	envs, last := f.outbox(stream, f.seen[stream])
	f.seen[stream] = last
	return envs
}

// ofType filters envelopes by type.
func ofType(envs []eventlog.Envelope, typ string) []eventlog.Envelope {
	var out []eventlog.Envelope
	for _, e := range envs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// runCommands hands new session commands to the worker, as the runner does.
func (f *fixture) runCommands() []eventlog.Envelope {
	f.t.Helper()
	envs := f.next(eventlog.SessionCommands)
	for _, e := range envs {
		if err := f.worker.HandleCommand(f.ctx, e); err != nil {
			f.t.Fatalf("handle %s: %v", e.Type, err)
		}
	}
	return envs
}

// runEvents hands new domain events to the ingester and returns them.
func (f *fixture) runEvents() []eventlog.Envelope {
	f.t.Helper()
	envs := f.next(eventlog.DomainEvents)
	sub := f.ingester.Subscription()
	for _, e := range envs {
		if !sub.Matches(e.Type) {
			continue
		}
		if err := f.ingester.Handle(f.ctx, e); err != nil {
			f.t.Fatalf("ingest %s: %v", e.Type, err)
		}
	}
	return envs
}

// ingest hands one provider event to the ingester.
func (f *fixture) ingest(sessionID string, ev eventlog.Event) eventlog.Envelope {
	f.t.Helper()
	env := eventlog.MustEnvelope(f.ctx, tenantA, sessionID, ev)
	if err := f.ingester.Handle(f.ctx, env); err != nil {
		f.t.Fatalf("ingest %s: %v", env.Type, err)
	}
	return env
}

func (f *fixture) sendText(sessionID, to, text, key string) Message {
	f.t.Helper()
	m, _, err := f.svc.Send(f.ctx, SendInput{TenantID: tenantA, SessionID: sessionID, IdempotencyKey: key,
		Request: SendRequest{To: to, Text: text}})
	if err != nil {
		f.t.Fatalf("send %q: %v", text, err)
	}
	return m
}

func (f *fixture) message(sessionID, id string) Message {
	f.t.Helper()
	m, err := f.store.Message(f.ctx, tenantA, sessionID, id)
	if err != nil {
		f.t.Fatalf("load message %s: %v", id, err)
	}
	return m
}

func (f *fixture) chat(sessionID, jid string) Chat {
	f.t.Helper()
	c, err := f.store.Chat(f.ctx, tenantA, sessionID, jid)
	if err != nil {
		f.t.Fatalf("load chat %s: %v", jid, err)
	}
	return c
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inbound builds a message from a contact.
func inbound(chat, id, text string, ts time.Time) wa.Message {
	return wa.Message{MessageID: id, ChatJID: chat, SenderJID: chat, PushName: "Alice", Type: wa.TypeText,
		Content: wa.Content{Text: text}, Timestamp: ts}
}

func contextWithCancel(f *fixture) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(f.ctx)
	f.t.Cleanup(cancel)
	return ctx, cancel
}
