package whatsmeow

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
	"github.com/wagate/wagate/internal/wafake"
)

// TestAgainstFakeWhatsApp runs the session manager with the real whatsmeow
// client against wafake, a fake WhatsApp server: link by QR, receive, send
// with receipts, stop/start without a QR, a dropped connection, and the
// phone unlinking the device.
func TestAgainstFakeWhatsApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n, err := wafake.Start(wafake.Config{ShortPreKeyUpload: true, CloseAfterError: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close) // runs after the manager stopped (cleanups are LIFO)
	phone := n.NewPhone("+15550001111")
	alice := n.NewContact("+15550002222")

	db := testenv.OpenDB(t, store.SQLite)
	hc := n.HTTPClient()
	p, err := New(ctx, Config{WebsocketHTTPClient: hc, PreLoginHTTPClient: hc, MediaHTTPClient: hc}, db, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	st := session.NewStore(db)
	mgr, err := session.NewManager(session.ManagerConfig{Store: st, Providers: []session.Provider{p},
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	eventlogtest.StartEmbedded(t, db, mgr.Subscription())

	sess, _ := session.NewSession(eventlog.NewID(), "tenant", "", session.ProviderWhatsmeow, time.Now())
	if err := st.Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	id := sess.ID()
	get := func() *session.Session {
		s, err := st.Get(ctx, "tenant", id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	wait := func(what string, cond func(s *session.Session) bool) {
		t.Helper()
		eventlogtest.Eventually(t, 60*time.Second, func() bool { return cond(get()) }, what)
	}

	var code string
	wait("a QR code", func(s *session.Session) bool {
		c, _, err := s.CurrentQR(time.Now())
		code = c
		return err == nil
	})
	jid, err := phone.ScanQR(ctx, code)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	wait("connected", func(s *session.Session) bool { return s.Status() == session.StatusConnected })
	if got := get().Phone(); got != "+15550001111" {
		t.Fatalf("phone = %q", got)
	}
	if dev, ok, _ := session.NewDeviceStore(db).Get(ctx, sess.Ref()); !ok || dev != jid.String() {
		t.Fatalf("device mapping = %q %v, want %s", dev, ok, jid)
	}

	// Inbound.
	if _, err := alice.SendText(ctx, jid.ToNonAD(), "hi from alice"); err != nil {
		t.Fatal(err)
	}
	recv := waitOutbox(t, db, id, wa.EventMessageReceived, func(data string) bool {
		var ev wa.MessageReceived
		_ = json.Unmarshal([]byte(data), &ev)
		return ev.Message.Content.Text == "hi from alice" && ev.Message.ChatJID == "15550002222@s.whatsapp.net"
	})
	_ = recv

	// Outbound, then alice reads it.
	res, err := mgr.Send(ctx, "tenant", id, wa.OutgoingMessage{ID: "m1", ChatJID: alice.JID().String(), Type: wa.TypeText, Content: wa.Content{Text: "hello alice"}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	got, err := alice.WaitMessage(ctx)
	if err != nil || got.Message.GetConversation() != "hello alice" || got.ID != res.MessageID || res.MessageID != messageIDFor("m1") {
		t.Fatalf("alice got %+v, %v (sent %s)", got, err, res.MessageID)
	}
	if err := alice.SendReceipt(ctx, jid, []types.MessageID{res.MessageID}, types.ReceiptTypeRead); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, db, id, wa.EventMessageStatusUpdated, func(data string) bool {
		var ev wa.MessageStatusUpdated
		_ = json.Unmarshal([]byte(data), &ev)
		return ev.Status == wa.ReceiptRead && len(ev.MessageIDs) == 1 && ev.MessageIDs[0] == res.MessageID
	})

	// Stop and start: reconnects from the stored keys, without a QR.
	if err := n.WaitAcked(ctx, jid); err != nil {
		t.Fatal(err)
	}
	qrsBefore := countOutbox(t, db, id, session.EventQRUpdated)
	if _, err := st.Update(ctx, "tenant", id, func(s *session.Session) error { return s.Stop(time.Now()) }); err != nil {
		t.Fatal(err)
	}
	wait("stopped", func(s *session.Session) bool { return s.DisconnectReason() == session.ReasonStopped })
	if _, err := st.Update(ctx, "tenant", id, func(s *session.Session) error { return s.Start(time.Now()) }); err != nil {
		t.Fatal(err)
	}
	wait("reconnected", func(s *session.Session) bool { return s.Status() == session.StatusConnected })
	if countOutbox(t, db, id, session.EventQRUpdated) != qrsBefore {
		t.Fatal("a linked session must reconnect without a QR")
	}

	// The network drops: connection_lost, then the worker reconnects.
	connectedBefore := countOutbox(t, db, id, session.EventConnected)
	eventlogtest.Eventually(t, 30*time.Second, func() bool { return n.Connected(jid) }, "logged in on the fake")
	if err := n.DropConnection(jid); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, db, id, session.EventDisconnected, func(data string) bool {
		return data == `{"reason":"connection_lost"}`
	})
	eventlogtest.Eventually(t, 60*time.Second, func() bool {
		return countOutbox(t, db, id, session.EventConnected) > connectedBefore
	}, "reconnected after the drop")

	// The phone removes the device: logged_out, not retried, keys gone.
	eventlogtest.Eventually(t, 30*time.Second, func() bool { return n.Connected(jid) }, "logged in again")
	if err := n.WaitAcked(ctx, jid); err != nil {
		t.Fatal(err)
	}
	if err := n.LogoutDevice(jid); err != nil {
		t.Fatal(err)
	}
	wait("logged out", func(s *session.Session) bool { return s.DisconnectReason() == session.ReasonLoggedOut })
	eventlogtest.Eventually(t, 30*time.Second, func() bool { return len(mgr.Running()) == 0 }, "no longer running")
	if _, ok, _ := session.NewDeviceStore(db).Get(ctx, sess.Ref()); ok {
		t.Fatal("the device mapping must be forgotten after a logout")
	}
}

func countOutbox(t *testing.T, db *store.DB, sessionID, typ string) int {
	t.Helper()
	var n int
	if err := db.SQL.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM outbox
		WHERE session_id = $1 AND type = $2`, sessionID, typ).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitOutbox waits for an event of the session whose data matches.
func waitOutbox(t *testing.T, db *store.DB, sessionID, typ string, match func(data string) bool) string {
	t.Helper()
	var found string
	eventlogtest.Eventually(t, 60*time.Second, func() bool {
		rows, err := db.SQL.QueryContext(context.Background(), `SELECT data FROM outbox
			WHERE session_id = $1 AND type = $2 ORDER BY seq`, sessionID, typ)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var data string
			_ = rows.Scan(&data)
			if match(data) {
				found = data
				return true
			}
		}
		return false
	}, "%s event for session %s", typ, sessionID)
	return found
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestQRTimeoutAgainstFakeWhatsApp: codes nobody scans run out, the login
// socket closes and the session ends disconnected/qr_timeout for good.
func TestQRTimeoutAgainstFakeWhatsApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n, err := wafake.Start(wafake.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	db := testenv.OpenDB(t, store.SQLite)
	hc := n.HTTPClient()
	p, err := New(ctx, Config{PreLoginHTTPClient: hc, WebsocketHTTPClient: hc,
		QRFirstTimeout: 100 * time.Millisecond, QRTimeout: 30 * time.Millisecond}, db, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	st := session.NewStore(db)
	mgr, err := session.NewManager(session.ManagerConfig{Store: st, Providers: []session.Provider{p}}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	eventlogtest.StartEmbedded(t, db, mgr.Subscription())

	sess, _ := session.NewSession(eventlog.NewID(), "tenant", "", session.ProviderWhatsmeow, time.Now())
	if err := st.Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, db, sess.ID(), session.EventDisconnected, func(data string) bool { return data == `{"reason":"qr_timeout"}` })
	if n := countOutbox(t, db, sess.ID(), session.EventQRUpdated); n < 2 {
		t.Fatalf("QR codes rotate before the timeout; saw %d", n)
	}
	eventlogtest.Eventually(t, 30*time.Second, func() bool { return len(mgr.Running()) == 0 }, "the session stops running")
}
