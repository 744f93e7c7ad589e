package wafake_test

import (
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/wafake"
)

// TestTwoCompanions links a second device to an account after the first one cached its own
// device list: the device notification updates the cache, so the first device's next message
// also reaches the second one (as a message from itself), and the contact's reply reaches both.
func TestTwoCompanions(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	first := newClient(t, n)
	firstJID := pair(t, first, phone)
	ctx := testContext(t)

	send := func(text string) {
		t.Helper()
		if _, err := first.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String(text)}); err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
		if got, err := contact.WaitMessage(ctx); err != nil || got.Text() != text {
			t.Fatalf("contact got %q, %v; want %q", got.Text(), err, text)
		}
	}
	send("before the second device") // caches [phone, first] as the own device list

	second := newClient(t, n)
	secondJID := pair(t, second, phone)
	if secondJID.Device == firstJID.Device {
		t.Fatalf("both devices got number %d", secondJID.Device)
	}
	if err := n.WaitAcked(ctx, firstJID); err != nil { // the device notification
		t.Fatal(err)
	}

	send("after the second device")
	echo := waitEvent[*events.Message](t, second.events, nil)
	if !echo.Info.IsFromMe || echo.Info.Chat != contact.JID() || echo.Message.GetConversation() != "after the second device" {
		t.Fatalf("second device got %+v / %q, want our own message to %s", echo.Info.MessageSource, echo.Message.GetConversation(), contact.JID())
	}

	if _, err := contact.SendText(ctx, phone.JID(), "reply to both"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []*testClient{first, second} {
		msg := waitEvent[*events.Message](t, tc.events, nil)
		if msg.Message.GetConversation() != "reply to both" || msg.Info.Sender != contact.JID() {
			t.Fatalf("%s got %q from %s", tc.jid, msg.Message.GetConversation(), msg.Info.Sender)
		}
	}
}
