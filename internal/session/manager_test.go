package session

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
)

// fakeProvider hands out fakeClients and remembers them.
type fakeProvider struct {
	mu      sync.Mutex
	clients []*fakeClient
	// connectErr makes Connect fail (a refused network).
	connectErr atomic.Pointer[error]
}

func (p *fakeProvider) Name() string { return ProviderWhatsmeow }

func (p *fakeProvider) Open(ctx context.Context, ref Ref, sink EventSink) (Client, error) {
	c := &fakeClient{p: p, sink: sink}
	p.mu.Lock()
	p.clients = append(p.clients, c)
	p.mu.Unlock()
	return c, nil
}

func (p *fakeProvider) last() *fakeClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.clients) == 0 {
		return nil
	}
	return p.clients[len(p.clients)-1]
}

type fakeClient struct {
	p         *fakeProvider
	sink      EventSink
	connects  atomic.Int64
	loggedOut atomic.Bool
	closed    atomic.Bool
	online    atomic.Bool
}

func (c *fakeClient) Connect(ctx context.Context) error {
	c.connects.Add(1)
	if err := c.p.connectErr.Load(); err != nil {
		return *err
	}
	c.online.Store(true)
	return nil
}
func (c *fakeClient) Disconnect()                      { c.online.Store(false) }
func (c *fakeClient) Logout(ctx context.Context) error { c.loggedOut.Store(true); return nil }
func (c *fakeClient) PairPhone(ctx context.Context, phone string) (string, error) {
	return "", ErrProviderUnsupported
}
func (c *fakeClient) Send(ctx context.Context, msg wa.OutgoingMessage) (wa.SendResult, error) {
	return wa.SendResult{MessageID: "X"}, nil
}
func (c *fakeClient) MarkRead(context.Context, string, []string) error          { return nil }
func (c *fakeClient) DownloadMedia(context.Context, wa.Message) ([]byte, error) { return nil, nil }
func (c *fakeClient) IsConnected() bool                                         { return c.online.Load() }
func (c *fakeClient) Close() error                                              { c.closed.Store(true); return nil }

type managerBundle struct {
	db   *store.DB
	st   *Store
	p    *fakeProvider
	m    *Manager
	sess *Session
}

func setupManager(t *testing.T) *managerBundle {
	t.Helper()
	db := testenv.OpenDB(t, store.SQLite)
	st := NewStore(db)
	p := &fakeProvider{}
	m, err := NewManager(ManagerConfig{Store: st, Providers: []Provider{p},
		ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.shutdown)
	sess := createSession(t, st, "tenant", "")
	return &managerBundle{db: db, st: st, p: p, m: m, sess: sess}
}

func (b *managerBundle) command(t *testing.T, typ string) {
	t.Helper()
	var ev Event
	switch typ {
	case CommandStart:
		ev = Start{}
	case CommandStop:
		ev = Stop{}
	case CommandLogout:
		ev = Logout{}
	}
	env := eventlog.MustEnvelope(context.Background(), "tenant", b.sess.ID(), ev)
	if err := b.m.HandleCommand(context.Background(), env); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func (b *managerBundle) status(t *testing.T) (Status, DisconnectReason) {
	t.Helper()
	s, err := b.st.Get(context.Background(), "tenant", b.sess.ID())
	if err != nil {
		t.Fatal(err)
	}
	return s.Status(), s.DisconnectReason()
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestManager(t *testing.T) {
	t.Parallel()

	t.Run("ConnectFailureIsConnectionLostAndRetried", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		refused := error(errors.New("connection refused"))
		b.p.connectErr.Store(&refused)
		b.command(t, CommandStart)
		c := b.p.last()
		eventually(t, func() bool { return c.connects.Load() >= 3 }, "retries")
		if st, r := b.status(t); st != StatusDisconnected || r != ReasonConnectionLost {
			t.Fatalf("status %s/%s", st, r)
		}
		// The network comes back: the next attempt connects; backoff resets.
		b.p.connectErr.Store(nil)
		eventually(t, func() bool { return c.connects.Load() >= 4 }, "a later attempt")
		c.sink.Connected("+15550001111")
		if st, _ := b.status(t); st != StatusConnected {
			t.Fatalf("status %s", st)
		}
		if _, err := b.m.Send(context.Background(), "tenant", b.sess.ID(), wa.OutgoingMessage{}); err != nil {
			t.Fatalf("send while connected: %v", err)
		}
	})

	t.Run("StopSilencesTheOldClient", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		b.command(t, CommandStart)
		c := b.p.last()
		c.sink.Connected("+15550001111")
		if _, err := b.st.Update(context.Background(), "tenant", b.sess.ID(), func(s *Session) error { return s.Stop(time.Now()) }); err != nil {
			t.Fatal(err)
		}
		b.command(t, CommandStop)
		if !c.closed.Load() || len(b.m.Running()) != 0 {
			t.Fatal("stop closes the client")
		}
		// A late event from the closed client must not overwrite "stopped".
		c.sink.Connected("+15550001111")
		c.sink.QR("late", time.Now().Add(time.Minute))
		if st, r := b.status(t); st != StatusDisconnected || r != ReasonStopped {
			t.Fatalf("status %s/%s", st, r)
		}
		if held, _ := b.m.leases.renew(context.Background()); held[b.sess.ID()] {
			t.Fatal("stop releases the lease")
		}
	})

	t.Run("TerminalDisconnectEndsTheSession", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		b.command(t, CommandStart)
		c := b.p.last()
		c.sink.Connected("+15550001111")
		c.sink.Disconnected(ReasonReplaced, false)
		eventually(t, func() bool { return c.closed.Load() && len(b.m.Running()) == 0 }, "session ended")
		if c.connects.Load() != 1 {
			t.Fatalf("a replaced session must not reconnect (%d connects)", c.connects.Load())
		}
		if st, r := b.status(t); st != StatusDisconnected || r != ReasonReplaced {
			t.Fatalf("status %s/%s", st, r)
		}
	})

	t.Run("LogoutOfASessionNotRunningOpensAClient", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		if _, err := b.st.Update(context.Background(), "tenant", b.sess.ID(), func(s *Session) error { return s.Logout(time.Now()) }); err != nil {
			t.Fatal(err)
		}
		b.command(t, CommandLogout)
		c := b.p.last()
		if c == nil || !c.loggedOut.Load() || !c.closed.Load() {
			t.Fatal("logout opens, logs out and closes a client")
		}
		if st, r := b.status(t); st != StatusDisconnected || r != ReasonLoggedOut {
			t.Fatalf("status %s/%s", st, r)
		}
		if len(b.m.Running()) != 0 {
			t.Fatal("a logged-out session does not run")
		}
	})

	t.Run("SecondWorkerRefusesALiveOwnersSession", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		b.command(t, CommandStart)
		p2 := &fakeProvider{}
		m2, err := NewManager(ManagerConfig{Store: b.st, Providers: []Provider{p2}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer m2.shutdown()
		env := eventlog.MustEnvelope(context.Background(), "tenant", b.sess.ID(), Start{})
		if err := m2.HandleCommand(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		if p2.last() != nil || len(m2.Running()) != 0 {
			t.Fatal("the second worker opened a session the first one runs")
		}
	})

	t.Run("UnknownProviderIsReportedNotRetried", func(t *testing.T) {
		t.Parallel()
		b := setupManager(t)
		sim := createSession(t, b.st, "tenant", ProviderSimulator)
		env := eventlog.MustEnvelope(context.Background(), "tenant", sim.ID(), Start{})
		if err := b.m.HandleCommand(context.Background(), env); err != nil {
			t.Fatalf("an unavailable provider is a status, not a handler error: %v", err)
		}
		got, _ := b.st.Get(context.Background(), "tenant", sim.ID())
		if got.DisconnectReason() != ReasonProviderUnavailable {
			t.Fatalf("reason = %s", got.DisconnectReason())
		}
	})
}
