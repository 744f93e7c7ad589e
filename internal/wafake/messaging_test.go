package wafake_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/wafake"
)

func TestSendText(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	for i, text := range []string{"hello from the gateway", "second message"} {
		resp, err := tc.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String(text)})
		if err != nil {
			t.Fatalf("SendMessage %d: %v", i, err)
		}
		got, err := contact.WaitMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Both are prekey messages: Signal keeps sending them until the contact answers.
		if got.Text() != text || got.ID != resp.ID || got.From != self || !got.PreKey {
			t.Fatalf("contact got %+v (text %q), want pkmsg id %s text %q from %s", got, got.Text(), resp.ID, text, self)
		}
		// The phone, another device of the sender, gets a device-sent copy.
		copyMsg, err := phone.WaitMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if copyMsg.Text() != text || copyMsg.Chat != contact.JID() ||
			copyMsg.Message.GetDeviceSentMessage().GetDestinationJID() != contact.JID().String() {
			t.Fatalf("phone got %+v, want a device-sent copy of %q to %s", copyMsg, text, contact.JID())
		}
	}
}

func TestReceiveText(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var encTypes []string
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true, OnSend: func(to types.JID, node *waBinary.Node) {
		if node.Tag == "message" {
			enc := node.GetChildByTag("enc")
			mu.Lock()
			encTypes = append(encTypes, enc.AttrGetter().String("type"))
			mu.Unlock()
		}
	}})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	expectMessage := func(id types.MessageID, text string) {
		t.Helper()
		msg := waitEvent[*events.Message](t, tc.events, nil)
		if msg.Info.ID != id || msg.Message.GetConversation() != text || msg.Info.Sender != contact.JID() || msg.Info.IsFromMe {
			t.Fatalf("got message %s %q from %s, want %s %q from %s", msg.Info.ID, msg.Message.GetConversation(), msg.Info.Sender, id, text, contact.JID())
		}
	}
	id, err := contact.SendText(ctx, self.ToNonAD(), "hi, first contact")
	if err != nil {
		t.Fatalf("contact send: %v", err)
	}
	expectMessage(id, "hi, first contact")

	// Signal keeps sending prekey messages until the other side answers, so reply once.
	if _, err = tc.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String("hello back")}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	reply, err := contact.WaitMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text() != "hello back" || reply.PreKey {
		t.Fatalf("contact got %q (pkmsg=%v), want a normal message", reply.Text(), reply.PreKey)
	}

	id, err = contact.SendText(ctx, self.ToNonAD(), "and a follow-up")
	if err != nil {
		t.Fatalf("contact send: %v", err)
	}
	expectMessage(id, "and a follow-up")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(encTypes, []string{"pkmsg", "msg"}) {
		t.Fatalf("client got enc types %v, want [pkmsg msg]", encTypes)
	}
}

func TestReceiptsFromContact(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	resp, err := tc.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String("ping")})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if _, err = contact.WaitMessage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []types.ReceiptType{types.ReceiptTypeDelivered, types.ReceiptTypeRead} {
		if err = contact.SendReceipt(ctx, self, []types.MessageID{resp.ID}, typ); err != nil {
			t.Fatalf("SendReceipt %q: %v", typ, err)
		}
		r := waitEvent[*events.Receipt](t, tc.events, nil)
		if r.Type != typ || !slices.Equal(r.MessageIDs, []types.MessageID{resp.ID}) || r.Sender != contact.JID() || r.Chat != contact.JID() {
			t.Fatalf("got receipt %+v, want %q for %s from %s", r, typ, resp.ID, contact.JID())
		}
	}
}

func TestMarkRead(t *testing.T) {
	t.Parallel()
	var privacyIQs sync.WaitGroup
	privacyIQs.Add(1)
	var once sync.Once
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true, OnReceive: func(_ types.JID, node *waBinary.Node) {
		if node.Tag == "iq" && node.AttrGetter().OptionalString("xmlns") == "privacy" {
			once.Do(privacyIQs.Done)
		}
	}})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	id, err := contact.SendText(ctx, self.ToNonAD(), "please read me")
	if err != nil {
		t.Fatal(err)
	}
	msg := waitEvent[*events.Message](t, tc.events, nil)
	// The client acknowledges delivery on its own (type inactive: it is not marked online).
	r, err := contact.WaitReceipt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != types.ReceiptTypeInactive || r.MessageIDs[0] != id || r.From != self {
		t.Fatalf("got delivery receipt %+v, want inactive for %s from %s", r, id, self)
	}
	if err = tc.MarkRead(ctx, []types.MessageID{id}, time.Now(), msg.Info.Chat, msg.Info.Sender); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	r, err = contact.WaitReceipt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != types.ReceiptTypeRead || !slices.Equal(r.MessageIDs, []types.MessageID{id}) || r.From != self {
		t.Fatalf("got receipt %+v, want read for %s from %s", r, id, self)
	}
	privacyIQs.Wait() // MarkRead only sends the receipt after the privacy IQ was answered
}
