package wafake_test

import (
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/wafake"
)

// TestUserLookups covers IsOnWhatsApp and GetUserInfo, and that messaging still works both ways
// once the client learned the contact's LID (it then encrypts to the LID address).
func TestUserLookups(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	onWA, err := tc.IsOnWhatsApp(ctx, []string{"+15550002222", "+15550009999"})
	if err != nil {
		t.Fatalf("IsOnWhatsApp: %v", err)
	}
	if len(onWA) != 2 || !onWA[0].IsIn || onWA[0].JID != contact.JID() || onWA[1].IsIn {
		t.Fatalf("IsOnWhatsApp = %+v", onWA)
	}

	info, err := tc.GetUserInfo(ctx, []types.JID{contact.JID()})
	if err != nil {
		t.Fatalf("GetUserInfo: %v", err)
	}
	got := info[contact.JID()]
	if got.LID != contact.LID() || len(got.Devices) != 1 || got.Devices[0] != contact.JID() {
		t.Fatalf("GetUserInfo = %+v, want LID %s and one device", got, contact.LID())
	}

	if _, err = tc.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String("via lid session")}); err != nil {
		t.Fatal(err)
	}
	if msg, err := contact.WaitMessage(ctx); err != nil || msg.Text() != "via lid session" {
		t.Fatalf("contact got %q, %v", msg.Text(), err)
	}
	if _, err = contact.SendText(ctx, self.ToNonAD(), "answer"); err != nil {
		t.Fatal(err)
	}
	msg := waitEvent[*events.Message](t, tc.events, nil)
	if msg.Message.GetConversation() != "answer" {
		t.Fatalf("client got %q", msg.Message.GetConversation())
	}
}
