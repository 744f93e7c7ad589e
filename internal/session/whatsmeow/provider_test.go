package whatsmeow

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/testenv"
)

// refusingClient is an HTTP client whose every connection goes to a local
// port nobody listens on, and which counts the attempts.
func refusingClient(t *testing.T, dials *atomic.Int64) *http.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // now the port refuses connections
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestProviderUpgradesDeviceStoreInSharedDatabase(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			ctx := context.Background()
			p, err := New(ctx, Config{}, db, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			// Twice: a restarted worker upgrades an up-to-date store.
			if _, err := New(ctx, Config{}, db, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("second New: %v", err)
			}
			var n int
			if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM whatsmeow_device`).Scan(&n); err != nil {
				t.Fatalf("whatsmeow tables missing: %v", err)
			}
			// A session never linked gets a fresh device (no JID yet).
			ref := session.Ref{TenantID: "t", SessionID: eventlog.NewID()}
			dev, err := p.device(ctx, ref)
			if err != nil || dev.ID != nil {
				t.Fatalf("fresh device = %+v, %v", dev, err)
			}
			// A mapping to a device that no longer exists is dropped.
			devices := session.NewDeviceStore(db)
			if err := devices.Put(ctx, ref, session.ProviderWhatsmeow, "15550001111.0:7@s.whatsapp.net"); err != nil {
				t.Fatal(err)
			}
			if dev, err := p.device(ctx, ref); err != nil || dev.ID != nil {
				t.Fatalf("stale mapping: %+v, %v", dev, err)
			}
			if _, ok, _ := devices.Get(ctx, ref); ok {
				t.Fatal("stale mapping must be deleted")
			}
		})
	}
}

// TestUnreachableServerEndsConnectionLostAndRetries runs the real manager
// with the real whatsmeow client against an address that refuses: the
// session ends disconnected/connection_lost, the worker retries with
// backoff and stays responsive to commands.
func TestUnreachableServerEndsConnectionLostAndRetries(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := testenv.OpenDB(t, d)
			ctx := context.Background()
			var dials atomic.Int64
			hc := refusingClient(t, &dials)
			p, err := New(ctx, Config{WebsocketHTTPClient: hc, PreLoginHTTPClient: hc, MediaHTTPClient: hc}, db, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			st := session.NewStore(db)
			mgr, err := session.NewManager(session.ManagerConfig{
				Store: st, Providers: []session.Provider{p},
				ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
				ReconcileInterval: 100 * time.Millisecond,
			}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = mgr.Run(runCtx) }()
			t.Cleanup(func() { stop(); <-done })
			eventlogtest.StartEmbedded(t, db, mgr.Subscription())

			sess, err := session.NewSession(eventlog.NewID(), "tenant", "", session.ProviderWhatsmeow, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Create(ctx, sess); err != nil {
				t.Fatal(err)
			}
			eventlogtest.Eventually(t, 30*time.Second, func() bool {
				s, err := st.Get(ctx, "tenant", sess.ID())
				return err == nil && s.Status() == session.StatusDisconnected && s.DisconnectReason() == session.ReasonConnectionLost
			}, "session ends disconnected/connection_lost")
			eventlogtest.Eventually(t, 30*time.Second, func() bool { return dials.Load() >= 3 }, "the worker retries (dials so far: %d)", dials.Load())
			if got := mgr.Running(); len(got) != 1 {
				t.Fatalf("the session keeps running (retrying): %v", got)
			}

			// Still responsive: a stop ends the retries.
			if _, err := st.Update(ctx, "tenant", sess.ID(), func(s *session.Session) error { return s.Stop(time.Now()) }); err != nil {
				t.Fatal(err)
			}
			eventlogtest.Eventually(t, 30*time.Second, func() bool {
				s, _ := st.Get(ctx, "tenant", sess.ID())
				return len(mgr.Running()) == 0 && s != nil && s.DisconnectReason() == session.ReasonStopped
			}, "stop ends the session")
			before := dials.Load()
			time.Sleep(200 * time.Millisecond) // several backoff periods
			if after := dials.Load(); after != before {
				t.Fatalf("a stopped session must not retry: %d → %d dials", before, after)
			}
		})
	}
}
