package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/messaging"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/testenv"
	"github.com/wagate/wagate/internal/wa"
)

// TestCloudSessionEndToEnd drives a cloud session through HTTP, the event
// log and the fake Graph API: it connects, sends text and media, receives
// an inbound message posted with a valid signature (which shows in chats
// and history like any session's), rejects a forged one, tracks statuses to
// read and to failed, and a redelivered payload changes nothing.
func TestCloudSessionEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d, testSecretKey)
			e.startWorker()
			const tenant = "tenant-shop"
			const contact = "16505551234"
			const chat = contact + "@s.whatsapp.net"
			id := e.createCloudSession(tenant, cloudSettings())

			// Connected once the token works: no QR on the way.
			var view session.SessionView
			e.eventually(func() bool {
				e.mustCall(tenant, http.MethodGet, "/sessions/"+id, nil, &view, http.StatusOK)
				return view.Status == session.StatusConnected
			}, "cloud session connects")
			if view.Provider != session.ProviderCloud || view.Phone != "+15550783881" {
				t.Fatalf("session %+v", view)
			}
			if n := e.count(eventlog.DomainEvents, id, session.EventQRUpdated, nil); n != 0 {
				t.Fatalf("%d QR events for a cloud session", n)
			}
			if status, _ := e.call(tenant, http.MethodGet, "/sessions/"+id+"/qr", nil, nil); status != http.StatusConflict {
				t.Fatalf("GET qr of a cloud session: %d", status)
			}
			check := e.graph.calls()[0]
			if check.Method != http.MethodGet || check.Path != "/v21.0/"+testPhoneNumberID {
				t.Fatalf("connection check %+v", check)
			}

			send := func(body map[string]any) messaging.Message {
				t.Helper()
				var m messaging.Message
				e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/messages", body, &m, http.StatusAccepted)
				return m
			}
			waitStatus := func(m messaging.Message, want messaging.Status) messaging.Message {
				t.Helper()
				var got messaging.Message
				e.eventually(func() bool {
					e.mustCall(tenant, http.MethodGet, "/sessions/"+id+"/messages/"+m.ID, nil, &got, http.StatusOK)
					return got.Status == want
				}, "message %s reaches %s (is %s)", m.ID, want, func() messaging.Status { return got.Status }())
				return got
			}

			// Text and media go out through the Graph API.
			hello := waitStatus(send(map[string]any{"to": "+" + contact, "text": "hello from wagate"}), messaging.StatusSent)
			png := []byte("\x89PNG\r\n\x1a\n tiny")
			photo := waitStatus(send(map[string]any{"to": "+" + contact,
				"image": map[string]any{"base64": base64.StdEncoding.EncodeToString(png), "mimetype": "image/png", "caption": "our shop"}}),
				messaging.StatusSent)
			sends := e.graph.sends()
			if len(sends) != 2 || sends[0]["to"] != contact || sends[0]["text"].(map[string]any)["body"] != "hello from wagate" {
				t.Fatalf("graph sends %v", sends)
			}
			img := sends[1]["image"].(map[string]any)
			if up, ok := e.graph.upload(fmt.Sprint(img["id"])); !ok || string(up.data) != string(png) || img["caption"] != "our shop" {
				t.Fatalf("image %v was not uploaded first", img)
			}
			if !strings.HasPrefix(hello.MessageID, "wamid.") || hello.MessageID == photo.MessageID {
				t.Fatalf("WhatsApp ids %q %q", hello.MessageID, photo.MessageID)
			}

			// A forged delivery is refused and changes nothing.
			if status, _, _ := e.post(payloadText, "forged-secret"); status != http.StatusUnauthorized {
				t.Fatalf("forged delivery: %d", status)
			}
			// A signed one becomes message.received and shows in chats and history.
			if status, res, raw := e.post(payloadText, testAppSecret); status != 200 || res.Accepted != 1 {
				t.Fatalf("signed delivery: %d %s", status, raw)
			}
			const inID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
			received := func(ev event) bool {
				m, _ := ev.Data["message"].(map[string]any)
				return m["messageId"] == inID
			}
			e.eventually(func() bool { return e.count(eventlog.DomainEvents, id, wa.EventMessageReceived, received) == 1 },
				"inbound message becomes message.received")
			var history messaging.MessagePage
			e.eventually(func() bool {
				e.mustCall(tenant, http.MethodGet, "/chats/"+url.PathEscape(chat)+"/messages?sessionId="+id, nil, &history, http.StatusOK)
				return len(history.Items) == 3
			}, "history holds the inbound message and both sent ones")
			var in messaging.Message
			for _, m := range history.Items {
				if m.MessageID == inID {
					in = m
				}
			}
			if in.MessageID != inID || in.Direction != messaging.DirectionIn || in.Status != messaging.StatusReceived ||
				in.Content.Text != "Does it come in another color?" || in.PushName != "Sheena Nelson" || in.SenderJID != chat {
				t.Fatalf("inbound in history %+v", in)
			}
			var chats messaging.ChatPage
			e.mustCall(tenant, http.MethodGet, "/chats?sessionId="+id, nil, &chats, http.StatusOK)
			// Meta's example message is older than the photo: the photo stays the latest.
			if len(chats.Items) != 1 || chats.Items[0].ChatJID != chat || chats.Items[0].LastMessageID != photo.MessageID || chats.Items[0].UnreadCount != 1 {
				t.Fatalf("chats %+v", chats.Items)
			}

			// Statuses move the sent message to read.
			for _, st := range []string{"sent", "delivered", "read"} {
				if status, _, raw := e.post(statusPayload(hello.MessageID, st, ""), testAppSecret); status != 200 {
					t.Fatalf("%s status: %d %s", st, status, raw)
				}
			}
			waitStatus(hello, messaging.StatusRead)

			// A failed status fails the photo with Meta's reason.
			e.post(statusPayload(photo.MessageID, "failed", errors131047), testAppSecret)
			failed := waitStatus(photo, messaging.StatusFailed)
			if failed.Error != ReasonReengagementWindow {
				t.Fatalf("failed photo %+v", failed)
			}
			failedEvent := func(ev event) bool { return ev.Data["id"] == photo.ID && ev.Data["reason"] == ReasonReengagementWindow }
			e.eventually(func() bool { return e.count(eventlog.DomainEvents, id, wa.EventMessageFailed, failedEvent) == 1 },
				"message.failed with the reengagement_window reason")

			// Redelivering everything changes nothing.
			before := len(e.events(eventlog.DomainEvents, id))
			for _, p := range []string{payloadText, statusPayload(hello.MessageID, "read", ""), statusPayload(photo.MessageID, "failed", errors131047)} {
				if status, res, _ := e.post(p, testAppSecret); status != 200 || res.Accepted != 0 || res.Duplicates != 1 {
					t.Fatalf("redelivery: %d %+v", status, res)
				}
			}
			// The repeats wrote no command: the six commands so far (text;
			// sent, delivered, read; failed) plus a new one are all handled.
			e.post(statusPayload(hello.MessageID, "deleted", ""), testAppSecret)
			if n := e.count(eventlog.SessionCommands, id, CommandWebhook, nil); n != 6 {
				t.Fatalf("%d webhook commands, want 6", n)
			}
			e.eventually(func() bool {
				var handled, queued int
				_ = e.db.SQL.QueryRow(`SELECT COUNT(*) FROM processed_events WHERE subscriber = $1`, SubscriptionName).Scan(&handled)
				_ = e.db.SQL.QueryRow(`SELECT COUNT(*) FROM cloud_inbox`).Scan(&queued)
				return handled == 6 && queued == 0
			}, "webhook commands handled")
			if after := len(e.events(eventlog.DomainEvents, id)); after != before {
				t.Fatalf("redelivered payloads produced %d events", after-before)
			}
			if e.count(eventlog.DomainEvents, id, wa.EventMessageReceived, received) != 1 {
				t.Fatal("redelivered message was received twice")
			}

			// A synchronous Graph error fails the send with its reason.
			e.graph.failSendsTo("15559990000", errNotAllowed)
			bad := waitStatus(send(map[string]any{"to": "+15559990000", "text": "hi"}), messaging.StatusFailed)
			if bad.Error != ReasonInvalidRecipient {
				t.Fatalf("send to a number outside the allowed list %+v", bad)
			}
		})
	}
}

// TestCloudInboundMediaAndQueueing: payloads accepted while the session is
// stopped wait in its inbox and arrive on the next start; inbound media is
// downloaded through the Graph API with the session's token.
func TestCloudInboundMediaAndQueueing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Dialects[0], testSecretKey)
	e.startWorker()
	const tenant = "tenant-media"
	id := e.createCloudSession(tenant, cloudSettings())
	connected := func() bool {
		var v session.SessionView
		e.mustCall(tenant, http.MethodGet, "/sessions/"+id, nil, &v, http.StatusOK)
		return v.Status == session.StatusConnected
	}
	e.eventually(connected, "cloud session connects")
	e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/stop", nil, nil, http.StatusAccepted)
	e.eventually(func() bool { return !connected() }, "session stops")

	if status, _, _ := e.post(payloadImage, testAppSecret); status != 200 {
		t.Fatalf("delivery to a stopped session: %d", status)
	}
	e.eventually(func() bool {
		var n int
		_ = e.db.SQL.QueryRow(`SELECT COUNT(*) FROM cloud_inbox WHERE session_id = $1`, id).Scan(&n)
		return n == 1
	}, "payload waits in the inbox")
	if n := e.count(eventlog.DomainEvents, id, wa.EventMessageReceived, nil); n != 0 {
		t.Fatalf("%d messages received while stopped", n)
	}

	e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/start", nil, nil, http.StatusAccepted)
	e.eventually(func() bool { return e.count(eventlog.DomainEvents, id, wa.EventMessageReceived, nil) == 1 },
		"queued message arrives after the start")

	const imgID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
	jpeg := []byte("\xff\xd8\xff\xe0 a jpeg")
	e.graph.setInboundMedia("1003383421387256", jpeg)
	var got []byte
	e.eventually(func() bool {
		req, _ := http.NewRequest(http.MethodGet, e.api.URL+"/sessions/"+id+"/messages/"+url.PathEscape(imgID)+"/media", nil)
		req.Header.Set("Authorization", "Bearer "+tenant)
		status, raw := e.do(req, nil)
		got = raw
		return status == http.StatusOK
	}, "media downloads")
	if string(got) != string(jpeg) {
		t.Fatalf("media %q", got)
	}
}

// TestCloudCredentials: a refused token ends the session logged_out rather
// than retrying; replacing the token and starting connects it; a token
// replaced while connected is used from then on.
func TestCloudCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Dialects[0], testSecretKey)
	e.startWorker()
	const tenant = "tenant-x"
	s := cloudSettings()
	s.AccessToken = "EAAJexpired"
	id := e.createCloudSession(tenant, s)
	status := func() session.SessionView {
		var v session.SessionView
		e.mustCall(tenant, http.MethodGet, "/sessions/"+id, nil, &v, http.StatusOK)
		return v
	}
	e.eventually(func() bool { return status().Status == session.StatusDisconnected }, "session with a refused token disconnects")
	if v := status(); v.DisconnectReason != session.ReasonLoggedOut {
		t.Fatalf("%+v", v)
	}

	e.mustCall(tenant, http.MethodPut, "/sessions/"+id+"/cloud", map[string]string{"accessToken": testToken}, nil, http.StatusNoContent)
	e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/start", nil, nil, http.StatusAccepted)
	e.eventually(func() bool { return status().Status == session.StatusConnected }, "session connects with the new token")

	// Meta rotates the token; wagate gets the new one while connected.
	e.graph.mu.Lock()
	e.graph.token = "EAAJrotated"
	e.graph.mu.Unlock()
	e.mustCall(tenant, http.MethodPut, "/sessions/"+id+"/cloud", map[string]string{"accessToken": "EAAJrotated", "verifyToken": "new-verify-token"}, nil, http.StatusNoContent)
	e.eventually(func() bool {
		for _, c := range e.graph.calls() {
			if c.Path == "/v21.0/"+testPhoneNumberID && c.Token == "EAAJrotated" {
				return status().Status == session.StatusConnected
			}
		}
		return false
	}, "session reconnects with the rotated token")
	var m struct {
		ID string `json:"id"`
	}
	e.mustCall(tenant, http.MethodPost, "/sessions/"+id+"/messages", map[string]any{"to": "+16505551234", "text": "still here"}, &m, http.StatusAccepted)
	e.eventually(func() bool { return len(e.graph.sends()) == 1 }, "send with the rotated token")
	if ok, _ := e.cloud.verifyTokenKnown(context.Background(), "new-verify-token"); !ok {
		t.Fatal("the new verify token is not known")
	}

	for name, tc := range map[string]struct {
		tenant string
		body   map[string]string
		want   int
	}{
		"Empty":         {tenant, map[string]string{}, http.StatusBadRequest},
		"ShortVerify":   {tenant, map[string]string{"verifyToken": "short"}, http.StatusBadRequest},
		"AnotherTenant": {"tenant-y", map[string]string{"accessToken": "x"}, http.StatusNotFound},
	} {
		if st, raw := e.call(tc.tenant, http.MethodPut, "/sessions/"+id+"/cloud", tc.body, nil); st != tc.want {
			t.Errorf("%s: %d %s", name, st, raw)
		}
	}
}

// TestCloudCheckRetriesMetasOutages: a 5xx answer to the token check is
// connection_lost, retried with backoff until the check succeeds.
func TestCloudCheckRetriesMetasOutages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Dialects[0], testSecretKey)
	e.graph.failNextCall(errServiceUnavailable)
	e.startWorker()
	id := e.createCloudSession("tenant-o", cloudSettings())
	e.eventually(func() bool { return e.count(eventlog.DomainEvents, id, session.EventConnected, nil) == 1 },
		"session connects after Meta's outage")
	lost := func(ev event) bool { return ev.Data["reason"] == string(session.ReasonConnectionLost) }
	if n := e.count(eventlog.DomainEvents, id, session.EventDisconnected, lost); n != 1 {
		t.Fatalf("%d connection_lost events, want 1", n)
	}
	if n := len(e.graph.calls()); n != 2 {
		t.Fatalf("%d Graph calls, want the failed check and the retry", n)
	}
}
