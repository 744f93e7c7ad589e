package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/internal/eventlog/eventlogtest"
	"github.com/wagate/wagate/internal/wafake"
)

const (
	phoneNumber   = "+15550001111" // the user's phone, which links wagate
	contactNumber = "+15550002222" // someone the user writes with
	contactJID    = "15550002222@s.whatsapp.net"
)

// message is a message as the API shows it.
type message struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	ChatJID   string `json:"chatJid"`
	MessageID string `json:"messageId"`
	Direction string `json:"direction"`
	Status    string `json:"status"`
	Type      string `json:"type"`
	Content   struct {
		Text string `json:"text"`
	} `json:"content"`
	SenderJID string `json:"senderJid"`
}

// sessionView is a session as the API shows it.
type sessionView struct {
	ID               string `json:"id"`
	Provider         string `json:"provider"`
	Status           string `json:"status"`
	Phone            string `json:"phone"`
	DisconnectReason string `json:"disconnectReason"`
}

// TestWhatsmeowEndToEnd drives wagate with the real whatsmeow client against
// the fake WhatsApp network, only through the HTTP API and the WebSocket, in
// both storage modes: sign-up with a mailed verification link → a
// whatsmeow session shows the client's QR → the phone scans it →
// connected → a text sent through the API reaches the contact, decrypted →
// message.sent → the contact's delivered and read receipts move the
// message's status → the contact's reply is received and persisted in the
// chat → a restarted wagate reconnects from the stored device without a QR
// → a dropped connection is reconnected → the phone unlinks the device →
// logged_out. Every node the clients sent is checked against the golden
// file of protocol paths.
func TestWhatsmeowEndToEnd(t *testing.T) {
	t.Parallel()
	for _, mode := range Modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			protocol := newProtocolLog()
			n := StartFake(t, wafake.Config{ShortPreKeyUpload: true, OnReceive: protocol.record})
			runEndToEnd(t, mode, n, protocol)
			checkGolden(t, protocol)
		})
	}
}

func runEndToEnd(t *testing.T, mode Mode, n *wafake.Network, protocol *protocolLog) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*WaitTimeout)
	defer cancel()
	phone := n.NewPhone(phoneNumber)
	contact := n.NewContact(contactNumber)
	d := NewDeployment(t, mode, n.Configure)
	proc := d.Start()
	api := SignUp(t, d, proc.Base, "ada@example.com")
	events := NewEventStream(t)
	events.Connect(api)

	// Create a whatsmeow session: the worker's client shows its QR.
	var created struct {
		SessionID string `json:"sessionId"`
		Status    string `json:"status"`
	}
	api.Must(http.MethodPost, "/sessions", map[string]string{"name": "shop", "provider": "whatsmeow"}, &created, http.StatusCreated)
	id := created.SessionID
	if id == "" || created.Status != "pending_qr" {
		t.Fatalf("create session answered %+v", created)
	}
	events.Wait(0, id, "session.created", nil)
	qrEv, pos := events.Wait(0, id, "session.qr.updated", nil)
	var qr struct {
		QR string `json:"qr"`
	}
	qrEv.Decode(t, &qr)
	var qrView struct {
		QR string `json:"qr"`
	}
	api.Must(http.MethodGet, "/sessions/"+id+"/qr", nil, &qrView, http.StatusOK)
	if qrView.QR == "" {
		t.Fatal("GET /sessions/{id}/qr has no code")
	}

	// The phone scans it. The fake accepts only a code whose keys are those
	// of the connection that asked for it: this is the real client's QR.
	self, err := phone.ScanQR(ctx, qr.QR)
	if err != nil {
		t.Fatalf("the phone cannot link the QR from session.qr.updated: %v", err)
	}
	connEv, pos := events.Wait(pos, id, "session.status.connected", nil)
	var conn struct {
		Phone string `json:"phone"`
	}
	connEv.Decode(t, &conn)
	if conn.Phone != phoneNumber {
		t.Fatalf("connected with phone %q, want %s", conn.Phone, phoneNumber)
	}
	var view sessionView
	api.Must(http.MethodGet, "/sessions/"+id, nil, &view, http.StatusOK)
	if view.Status != "connected" || view.Phone != phoneNumber || view.Provider != "whatsmeow" {
		t.Fatalf("session after the scan: %+v", view)
	}
	if devs := n.Devices(phone.JID()); len(devs) != 1 || devs[0] != self {
		t.Fatalf("phone's linked devices %v, want [%s]", devs, self)
	}

	// Send a text: the contact decrypts exactly it.
	const text = "Your order #1042 has shipped 📦"
	out := sendText(t, api, id, contactNumber, text, "order-1042")
	got, err := contact.WaitMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != text || got.From != self {
		t.Fatalf("the contact got %q from %s, want %q from %s", got.Text(), got.From, text, self)
	}
	sentEv, pos := events.Wait(pos, id, "message.sent", func(ev Envelope) bool { return ev.Field(t, "id") == out.ID })
	if waID := sentEv.Field(t, "messageId"); waID != got.ID {
		t.Fatalf("message.sent has WhatsApp id %s, the contact got %s", waID, got.ID)
	}
	sent := waitStatus(t, api, id, out.ID, "sent")
	if sent.MessageID != got.ID || sent.ChatJID != contactJID || sent.Direction != "out" {
		t.Fatalf("sent message %+v, want WhatsApp id %s to %s", sent, got.ID, contactJID)
	}

	// The contact's receipts move the status: delivered, then read.
	for _, r := range []struct {
		typ    types.ReceiptType
		status string
	}{{types.ReceiptTypeDelivered, "delivered"}, {types.ReceiptTypeRead, "read"}} {
		if err := contact.SendReceipt(ctx, self, []types.MessageID{got.ID}, r.typ); err != nil {
			t.Fatal(err)
		}
		events.Wait(pos, id, "message.status.updated", func(ev Envelope) bool { return ev.Field(t, "status") == r.status })
		waitStatus(t, api, id, out.ID, r.status)
	}

	// The contact replies: message.received, persisted in the chat.
	const reply = "Thanks! When will it arrive?"
	replyID, err := contact.SendText(ctx, self.ToNonAD(), reply)
	if err != nil {
		t.Fatal(err)
	}
	recvEv, pos := events.Wait(pos, id, "message.received", nil)
	var recv struct {
		Message struct {
			MessageID string `json:"messageId"`
			ChatJID   string `json:"chatJid"`
			Content   struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"message"`
	}
	recvEv.Decode(t, &recv)
	if recv.Message.MessageID != replyID || recv.Message.Content.Text != reply || recv.Message.ChatJID != contactJID {
		t.Fatalf("message.received %s, want %s %q in %s", recvEv.Data, replyID, reply, contactJID)
	}
	waitChat(t, api, id, replyID, got.ID)
	history := chatHistory(t, api, id)
	if len(history) != 2 || history[0].MessageID != replyID || history[0].Direction != "in" || history[0].Content.Text != reply ||
		history[1].ID != out.ID || history[1].Status != "read" {
		t.Fatalf("chat history (newest first) = %+v, want the reply then the sent message", history)
	}

	// Keep-alive pings are answered: the session stays connected.
	protocol.waitSeen(t, "iq type=get xmlns=w:p")
	if n := events.Count(0, id, "session.status.disconnected"); n != 0 {
		t.Fatalf("%d disconnections of a healthy session", n)
	}

	// Restart wagate: the new process restores the session from the stored
	// device — no QR, no new device on the phone — and it still works.
	if err := n.WaitAcked(ctx, self); err != nil {
		t.Fatal(err)
	}
	proc.Shutdown(t)
	proc = d.Start()
	api.Base = proc.Base
	events.Connect(api)
	beforeRestart := pos
	_, pos = events.Wait(pos, id, "session.status.disconnected", ReasonIs("worker_stopped"))
	_, pos = events.Wait(pos, id, "session.status.connected", nil)
	if qrs := events.Count(beforeRestart, id, "session.qr.updated"); qrs != 0 {
		t.Fatalf("the restarted worker asked for %d QR codes; it must reconnect from the stored device", qrs)
	}
	if devs := n.Devices(phone.JID()); len(devs) != 1 || devs[0] != self {
		t.Fatalf("phone's linked devices after the restart %v, want [%s]", devs, self)
	}
	out2 := sendText(t, api, id, contactNumber, "It arrives tomorrow.", "")
	if got, err := contact.WaitMessage(ctx); err != nil || got.Text() != "It arrives tomorrow." || got.PreKey {
		t.Fatalf("after the restart the contact got %q (pkmsg %v), %v; want a normal message", got.Text(), got.PreKey, err)
	}
	_, pos = events.Wait(pos, id, "message.sent", func(ev Envelope) bool { return ev.Field(t, "id") == out2.ID })

	// The network drops the connection: connection_lost, then the worker
	// reconnects by itself.
	waitLoggedIn(t, n, self)
	if err := n.WaitAcked(ctx, self); err != nil {
		t.Fatal(err)
	}
	if err := n.DropConnection(self); err != nil {
		t.Fatal(err)
	}
	_, pos = events.Wait(pos, id, "session.status.disconnected", ReasonIs("connection_lost"))
	_, pos = events.Wait(pos, id, "session.status.connected", nil)
	waitLoggedIn(t, n, self)
	if _, err := contact.SendText(ctx, self.ToNonAD(), "still there?"); err != nil {
		t.Fatal(err)
	}
	events.Wait(pos, id, "message.received", func(ev Envelope) bool { return ev.Field(t, "message.content.text") == "still there?" })

	// The user unlinks wagate on the phone: logged_out, and it stays down.
	if err := n.WaitAcked(ctx, self); err != nil {
		t.Fatal(err)
	}
	if err := n.LogoutDevice(self); err != nil {
		t.Fatal(err)
	}
	_, pos = events.Wait(pos, id, "session.status.disconnected", ReasonIs("logged_out"))
	api.Must(http.MethodGet, "/sessions/"+id, nil, &view, http.StatusOK)
	if view.Status != "disconnected" || view.DisconnectReason != "logged_out" {
		t.Fatalf("session after the phone unlinked it: %+v", view)
	}
	eventlogtest.Eventually(t, WaitTimeout, func() bool { return len(proc.App.SessionManager.Running()) == 0 },
		"the worker lets a logged-out session go")
	if n := events.Count(pos, id, "session.status.connected"); n != 0 {
		t.Fatalf("a logged-out session reconnected %d times", n)
	}
}

// sendText sends a text through the API and returns the pending message.
func sendText(t *testing.T, api *Client, sessionID, to, text, idempotencyKey string) message {
	t.Helper()
	var m message
	var hdr []string
	if idempotencyKey != "" {
		hdr = []string{"Idempotency-Key", idempotencyKey}
	}
	api.Must(http.MethodPost, "/sessions/"+sessionID+"/messages", map[string]string{"to": to, "text": text}, &m, http.StatusAccepted, hdr...)
	if m.ID == "" || m.Status != "pending" || m.Content.Text != text {
		t.Fatalf("send answered %+v", m)
	}
	return m
}

// waitStatus polls GET /sessions/{id}/messages/{messageId} until the
// message has status.
func waitStatus(t *testing.T, api *Client, sessionID, messageID, status string) message {
	t.Helper()
	var m message
	eventlogtest.Eventually(t, WaitTimeout, func() bool {
		api.Must(http.MethodGet, "/sessions/"+sessionID+"/messages/"+messageID, nil, &m, http.StatusOK)
		return m.Status == status
	}, "message %s to reach status %s", messageID, status)
	return m
}

// waitChat polls GET /chats until the session's one chat, with the
// contact, has an unread message, and checks its last message.
func waitChat(t *testing.T, api *Client, sessionID string, lastMessageIDs ...string) {
	t.Helper()
	var page struct {
		Items []struct {
			ChatJID       string `json:"chatJid"`
			LastMessageID string `json:"lastMessageId"`
			UnreadCount   int    `json:"unreadCount"`
		} `json:"items"`
	}
	eventlogtest.Eventually(t, WaitTimeout, func() bool {
		api.Must(http.MethodGet, "/chats?sessionId="+url.QueryEscape(sessionID), nil, &page, http.StatusOK)
		return len(page.Items) == 1 && page.Items[0].UnreadCount == 1
	}, "a chat with one unread message")
	// WhatsApp timestamps have a resolution of one second: when the reply
	// lands in the same second as the message before it, wagate may keep
	// either as the chat's last message.
	if c := page.Items[0]; c.ChatJID != contactJID || !slices.Contains(lastMessageIDs, c.LastMessageID) {
		t.Fatalf("chat %+v, want the chat with %s ending with one of %v", c, contactJID, lastMessageIDs)
	}
}

// chatHistory is the contact chat's persisted history, newest first.
func chatHistory(t *testing.T, api *Client, sessionID string) []message {
	t.Helper()
	var page struct {
		Items []message `json:"items"`
	}
	api.Must(http.MethodGet, "/chats/"+url.PathEscape(contactJID)+"/messages?sessionId="+url.QueryEscape(sessionID), nil, &page, http.StatusOK)
	return page.Items
}

// waitLoggedIn waits until the fake network has the device logged in: the
// worker's "connected" can precede the end of the login on the server.
func waitLoggedIn(t *testing.T, n *wafake.Network, device types.JID) {
	t.Helper()
	eventlogtest.Eventually(t, WaitTimeout, func() bool { return n.Connected(device) }, "device %s logged in on the fake network", device)
}
