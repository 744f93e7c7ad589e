package simulator_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/session/simulator"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
)

var slowQR = simulator.Config{QRInterval: time.Minute, ReceiptDelay: 20 * time.Millisecond}

// TestSessionLifecycleEndToEnd drives a simulator session through HTTP and
// the event log: create → QR → scan → connected → stop → start without a
// QR → logout → start asks for a QR again.
func TestSessionLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, slowQR, true)
			e.startWorker()
			const tenant = "tenant-a"
			id := e.createSimSession(tenant)
			e.waitEvent(id, 0, session.EventCreated, nil)

			qr := e.waitEvent(id, 0, session.EventQRUpdated, nil)
			var qrView session.QRView
			e.mustCall(tenant, http.MethodGet, "/sessions/"+id+"/qr", nil, &qrView, http.StatusOK)
			if qrView.QR != qr.Data["qr"] || qrView.ExpiresAt.IsZero() {
				t.Fatalf("GET qr = %+v, event %v", qrView, qr.Data)
			}
			status, hdr, png := e.callAccept(tenant, http.MethodGet, "/sessions/"+id+"/qr", nil, nil, "image/png")
			if status != http.StatusOK || hdr.Get("Content-Type") != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("PNG qr: %d %s %q", status, hdr.Get("Content-Type"), png[:min(8, len(png))])
			}

			e.mustCall(tenant, http.MethodPost, "/simulator/sessions/"+id+"/scan", map[string]string{"phone": "+15550001111"}, nil, http.StatusAccepted)
			conn := e.waitEvent(id, qr.Seq, session.EventConnected, nil)
			if conn.Data["phone"] != "+15550001111" {
				t.Fatalf("connected event = %v", conn.Data)
			}
			if v := e.getSession(tenant, id); v.Status != session.StatusConnected || v.Phone != "+15550001111" {
				t.Fatalf("session after scan = %+v", v)
			}
			if status, _, _ := e.call(tenant, http.MethodGet, "/sessions/"+id+"/qr", nil, nil); status != http.StatusConflict {
				t.Fatalf("QR of a connected session: %d, want 409", status)
			}

			var view session.SessionView
			e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/stop", nil, &view, http.StatusAccepted)
			stopped := e.waitEvent(id, conn.Seq, session.EventDisconnected, reasonIs(session.ReasonStopped))
			if v := e.getSession(tenant, id); v.Status != session.StatusDisconnected || v.DisconnectReason != session.ReasonStopped {
				t.Fatalf("session after stop = %+v", v)
			}

			e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/start", nil, nil, http.StatusAccepted)
			reconn := e.waitEvent(id, stopped.Seq, session.EventConnected, nil)
			if n := e.countEvents(id, stopped.Seq, session.EventQRUpdated); n != 0 {
				t.Fatalf("a paired session must reconnect without a QR; saw %d QR events", n)
			}

			e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/logout", nil, nil, http.StatusAccepted)
			out := e.waitEvent(id, reconn.Seq, session.EventDisconnected, reasonIs(session.ReasonLoggedOut))
			if v := e.getSession(tenant, id); v.DisconnectReason != session.ReasonLoggedOut {
				t.Fatalf("session after logout = %+v", v)
			}

			e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/start", nil, nil, http.StatusAccepted)
			e.waitEvent(id, out.Seq, session.EventQRUpdated, nil)
			if v := e.getSession(tenant, id); v.Status != session.StatusPendingQR {
				t.Fatalf("after logout a start asks for a QR: %+v", v)
			}

			e.mustCall(tenant, http.MethodDelete, "/sessions/"+id, nil, nil, http.StatusNoContent)
			e.mustCall(tenant, http.MethodGet, "/sessions/"+id, nil, nil, http.StatusNotFound)
			eventlogtest.Eventually(t, waitTimeout, func() bool {
				_, err := e.store.GetAny(context.Background(), tenant, id)
				return errors.Is(err, session.ErrNotFound)
			}, "the worker purges a deleted session")
			if len(e.worker.mgr.Running()) != 0 {
				t.Fatalf("deleted session still runs: %v", e.worker.mgr.Running())
			}
		})
	}
}

// linked creates a simulator session and links it; it returns the id and
// the seq of its connected event.
func (e *env) linked(tenant, phone string) (string, int64) {
	e.t.Helper()
	id := e.createSimSession(tenant)
	e.waitEvent(id, 0, session.EventQRUpdated, nil)
	e.mustCall(tenant, http.MethodPost, "/simulator/sessions/"+id+"/scan", map[string]string{"phone": phone}, nil, http.StatusAccepted)
	return id, e.waitEvent(id, 0, session.EventConnected, nil).Seq
}

func TestWorkerRestartRestoresConnectedSession(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, slowQR, true)
			first := e.startWorker()
			id, seq := e.linked("tenant-r", "+15550002222")

			first.stop()
			down := e.waitEvent(id, seq, session.EventDisconnected, reasonIs(session.ReasonWorkerStopped))
			// Queued while no worker runs it; delivered on reconnect.
			var in struct {
				MessageID string `json:"messageId"`
			}
			e.mustCall("tenant-r", http.MethodPost, "/simulator/sessions/"+id+"/inbound",
				map[string]string{"from": "+15559990000", "text": "while you were away", "pushName": "Ann"}, &in, http.StatusAccepted)

			e.startWorker()
			up := e.waitEvent(id, down.Seq, session.EventConnected, nil)
			if up.Data["phone"] != "+15550002222" || e.countEvents(id, down.Seq, session.EventQRUpdated) != 0 {
				t.Fatalf("restore must reconnect without a QR: %v", up.Data)
			}
			recv := e.waitEvent(id, down.Seq, wa.EventMessageReceived, nil)
			msg := recv.Data["message"].(map[string]any)
			if msg["messageId"] != in.MessageID || msg["chatJid"] != "15559990000@s.whatsapp.net" || msg["pushName"] != "Ann" {
				t.Fatalf("received = %v", msg)
			}
			// The message was found after down.Seq, i.e. delivered by the new
			// worker. Its order relative to the connected event is not asserted:
			// on PostgreSQL it was seen ahead of it once in CI (under
			// investigation, see the issue note).
		})
	}
}

func TestConnectionLostReconnectsWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", slowQR, true)
	e.startWorker()
	id, seq := e.linked("tenant-c", "+15550003333")
	e.mustCall("tenant-c", http.MethodPost, "/simulator/sessions/"+id+"/disconnect", map[string]string{"reason": "connection_lost"}, nil, http.StatusAccepted)
	lost := e.waitEvent(id, seq, session.EventDisconnected, reasonIs(session.ReasonConnectionLost))
	e.waitEvent(id, lost.Seq, session.EventConnected, nil)

	// logged out from the phone: not retried, and not restored.
	e.mustCall("tenant-c", http.MethodPost, "/simulator/sessions/"+id+"/disconnect", map[string]string{"reason": "logged_out"}, nil, http.StatusAccepted)
	out := e.waitEvent(id, lost.Seq, session.EventDisconnected, reasonIs(session.ReasonLoggedOut))
	eventlogtest.Eventually(t, waitTimeout, func() bool { return len(e.worker.mgr.Running()) == 0 }, "a logged-out session stops running")
	time.Sleep(300 * time.Millisecond) // a reconcile round or two: nothing may restart it
	if n := len(e.events(id, out.Seq)); n != 0 {
		t.Fatalf("a logged-out session must not reconnect; saw %d events", n)
	}
}

func TestQRNeverScannedTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", simulator.Config{QRInterval: 30 * time.Millisecond, QRCount: 3}, true)
	e.startWorker()
	id := e.createSimSession("tenant-q")
	e.waitEvent(id, 0, session.EventDisconnected, reasonIs(session.ReasonQRTimeout))
	if n := e.countEvents(id, 0, session.EventQRUpdated); n != 3 {
		t.Fatalf("QR codes shown = %d, want 3 (rotating)", n)
	}
	if v := e.getSession("tenant-q", id); v.Status != session.StatusDisconnected || v.DisconnectReason != session.ReasonQRTimeout {
		t.Fatalf("session = %+v", v)
	}
	eventlogtest.Eventually(t, waitTimeout, func() bool { return len(e.worker.mgr.Running()) == 0 }, "a timed-out session stops running")
}

func TestSendReportsReceiptsAndHistoryIsChunked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "postgres", slowQR, true)
	w := e.startWorker()
	id, seq := e.linked("tenant-s", "+15550004444")
	ctx := context.Background()

	if _, err := w.mgr.Send(ctx, "other-tenant", id, wa.OutgoingMessage{ID: "m1", ChatJID: "15559990000@s.whatsapp.net", Type: wa.TypeText, Content: wa.Content{Text: "hi"}}); !errors.Is(err, session.ErrNotConnected) {
		t.Fatalf("send through another tenant's session: %v", err)
	}
	res, err := w.mgr.Send(ctx, "tenant-s", id, wa.OutgoingMessage{ID: "m1", ChatJID: "15559990000@s.whatsapp.net", Type: wa.TypeText, Content: wa.Content{Text: "hi"}})
	if err != nil || res.MessageID == "" {
		t.Fatalf("send: %+v %v", res, err)
	}
	again, _ := w.mgr.Send(ctx, "tenant-s", id, wa.OutgoingMessage{ID: "m1", ChatJID: "15559990000@s.whatsapp.net", Type: wa.TypeText, Content: wa.Content{Text: "hi"}})
	if again.MessageID != res.MessageID {
		t.Fatal("a retried send keeps its WhatsApp id")
	}
	hasID := func(ev event) bool {
		ids, _ := ev.Data["messageIds"].([]any)
		return len(ids) == 1 && ids[0] == res.MessageID
	}
	delivered := e.waitEvent(id, seq, wa.EventMessageStatusUpdated, func(ev event) bool { return hasID(ev) && ev.Data["status"] == "delivered" })
	e.waitEvent(id, delivered.Seq, wa.EventMessageStatusUpdated, func(ev event) bool { return hasID(ev) && ev.Data["status"] == "read" })

	status, _, raw := e.call("tenant-s", http.MethodPost, "/simulator/sessions/"+id+"/history", map[string]int{"chats": 3, "messagesPerChat": 400}, nil)
	if status != http.StatusAccepted {
		t.Fatalf("history: %d %s", status, raw)
	}
	final := e.waitEvent(id, seq, wa.EventHistorySync, func(ev event) bool { return ev.Data["final"] == true })
	total, chunks := 0, 0
	for _, ev := range e.events(id, seq) {
		if ev.Type != wa.EventHistorySync || ev.Seq > final.Seq {
			continue
		}
		chunks++
		n := 0
		for _, c := range ev.Data["chats"].([]any) {
			n += len(c.(map[string]any)["messages"].([]any))
		}
		if n > session.MaxHistoryChunk {
			t.Fatalf("chunk of %d messages", n)
		}
		total += n
	}
	if total != 1200 || chunks != 3 {
		t.Fatalf("history: %d messages in %d chunks, want 1200 in 3", total, chunks)
	}

	// Stopped: sends fail fast with ErrNotConnected.
	e.mustCall("tenant-s", http.MethodPost, "/sessions/"+id+"/stop", nil, nil, http.StatusAccepted)
	eventlogtest.Eventually(t, waitTimeout, func() bool { return len(w.mgr.Running()) == 0 }, "stop")
	if _, err := w.mgr.Send(ctx, "tenant-s", id, wa.OutgoingMessage{ID: "m2", ChatJID: "15559990000@s.whatsapp.net"}); !errors.Is(err, session.ErrNotConnected) {
		t.Fatalf("send while stopped: %v", err)
	}
}

func TestPairCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", slowQR, true)
	e.startWorker()
	id := e.createSimSession("tenant-p")
	var out struct {
		Code string `json:"code"`
	}
	e.mustCall("tenant-p", http.MethodPost, "/sessions/"+id+"/pair-code", map[string]string{"phone": "+15550005555"}, &out, http.StatusOK)
	if len(out.Code) != 9 || out.Code[4] != '-' {
		t.Fatalf("code = %q", out.Code)
	}
	status, _, raw := e.call("tenant-p", http.MethodPost, "/sessions/"+id+"/pair-code", map[string]string{"phone": "12"}, nil)
	if status != http.StatusBadRequest && status != http.StatusUnprocessableEntity {
		t.Fatalf("bad phone: %d %s", status, raw)
	}
	e.mustCall("tenant-p", http.MethodPost, "/simulator/sessions/"+id+"/scan", map[string]string{"phone": "+15550005555"}, nil, http.StatusAccepted)
	e.waitEvent(id, 0, session.EventConnected, nil)
	eventlogtest.Eventually(t, waitTimeout, func() bool {
		return e.getSession("tenant-p", id).Status == session.StatusConnected
	}, "connected")
	e.mustCall("tenant-p", http.MethodPost, "/sessions/"+id+"/pair-code", map[string]string{"phone": "+15550005555"}, nil, http.StatusConflict)
}

func TestPairCodeTimesOutWithoutWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", slowQR, true)
	id := e.createSimSession("tenant-n")
	status, hdr, raw := e.call("tenant-n", http.MethodPost, "/sessions/"+id+"/pair-code", map[string]string{"phone": "+15550005555"}, nil)
	if status != http.StatusServiceUnavailable || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("no worker: %d %s", status, raw)
	}
}
