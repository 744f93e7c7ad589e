package wafake_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/internal/wafake"
)

func TestReconnectFromStore(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	first := newClient(t, n)
	self := pair(t, first, phone)
	first.Disconnect()
	ctx := testContext(t)

	// Sent while the device is offline: waits in its offline queue.
	id, err := contact.SendText(ctx, self.ToNonAD(), "while you were away")
	if err != nil {
		t.Fatal(err)
	}

	second := reopenClient(t, n, first)
	if err = second.Connect(); err != nil {
		t.Fatalf("connect from stored device: %v", err)
	}
	waitEvent[*events.Connected](t, second.events, nil)
	if second.events.count(isType[*events.QR]) != 0 {
		t.Fatal("stored device was asked to pair again")
	}
	msg := waitEvent[*events.Message](t, second.events, nil)
	if msg.Info.ID != id || msg.Message.GetConversation() != "while you were away" {
		t.Fatalf("got offline message %s %q", msg.Info.ID, msg.Message.GetConversation())
	}
	offline := waitEvent[*events.OfflineSyncCompleted](t, second.events, nil)
	if offline.Count != 1 {
		t.Fatalf("offline sync count %d, want 1", offline.Count)
	}
}

func TestServerDropReconnects(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	contact := n.NewContact("+15550002222")
	tc := newClient(t, n)
	self := pair(t, tc, phone)
	ctx := testContext(t)

	if err := n.DropConnection(self); err != nil {
		t.Fatal(err)
	}
	waitEvent[*events.Disconnected](t, tc.events, nil)
	waitEvent[*events.Connected](t, tc.events, nil)

	// The session survives the reconnect in both directions.
	if _, err := tc.SendMessage(ctx, contact.JID(), &waE2E.Message{Conversation: proto.String("still here")}); err != nil {
		t.Fatalf("send after reconnect: %v", err)
	}
	if got, err := contact.WaitMessage(ctx); err != nil || got.Text() != "still here" {
		t.Fatalf("contact got %q, %v", got.Text(), err)
	}
	if _, err := contact.SendText(ctx, self.ToNonAD(), "welcome back"); err != nil {
		t.Fatal(err)
	}
	msg := waitEvent[*events.Message](t, tc.events, nil)
	if msg.Message.GetConversation() != "welcome back" {
		t.Fatalf("got %q after reconnect", msg.Message.GetConversation())
	}
}

func TestLogoutFromPhone(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	self := pair(t, tc, phone)

	if err := n.LogoutDevice(self); err != nil {
		t.Fatal(err)
	}
	loggedOut := waitEvent[*events.LoggedOut](t, tc.events, nil)
	if loggedOut.Reason != events.ConnectFailureLoggedOut {
		t.Fatalf("logged out with reason %v", loggedOut.Reason)
	}
	if len(n.Devices(phone.JID())) != 0 {
		t.Fatalf("device still linked: %v", n.Devices(phone.JID()))
	}
	if err := n.DropConnection(self); err == nil {
		t.Fatal("DropConnection succeeded on an unlinked device")
	}
}

func TestLoginOfUnlinkedDeviceFails(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	first := newClient(t, n)
	self := pair(t, first, phone)
	first.Disconnect()
	if err := n.LogoutDevice(self); err != nil {
		t.Fatal(err)
	}

	second := reopenClient(t, n, first)
	if err := second.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	loggedOut := waitEvent[*events.LoggedOut](t, second.events, nil)
	if !loggedOut.OnConnect || loggedOut.Reason != events.ConnectFailureLoggedOut {
		t.Fatalf("got %+v, want a 401 on connect", loggedOut)
	}
}

func TestStreamReplaced(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	self := pair(t, tc, phone)

	if err := n.ReplaceStream(self); err != nil {
		t.Fatal(err)
	}
	waitEvent[*events.StreamReplaced](t, tc.events, nil)
	if len(n.Devices(phone.JID())) != 1 {
		t.Fatal("a replaced stream must not unlink the device")
	}
}

func TestSecondLoginReplacesFirst(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	first := newClient(t, n)
	pair(t, first, phone)

	second := reopenClient(t, n, first)
	if err := second.Connect(); err != nil {
		t.Fatal(err)
	}
	waitEvent[*events.Connected](t, second.events, nil)
	waitEvent[*events.StreamReplaced](t, first.events, nil)
}

func TestClientLogout(t *testing.T) {
	t.Parallel()
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true})
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	self := pair(t, tc, phone)

	if err := tc.Logout(testContext(t)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if devices := n.Devices(phone.JID()); len(devices) != 0 {
		t.Fatalf("devices after logout: %v", devices)
	}
	if n.Connected(self) {
		t.Fatal("logged-out device still connected")
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	var pings atomic.Int32
	enough := make(chan struct{})
	var once sync.Once
	n := newNetwork(t, wafake.Config{ShortPreKeyUpload: true, OnReceive: func(_ types.JID, node *waBinary.Node) {
		if node.Tag == "iq" && node.AttrGetter().OptionalString("xmlns") == "w:p" && pings.Add(1) == 2 {
			once.Do(func() { close(enough) })
		}
	}})
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	pair(t, tc, phone)
	select {
	case <-enough:
	case <-testContext(t).Done():
		t.Fatalf("only %d keep-alive pings within the timeout", pings.Load())
	}
	if got := tc.events.count(isType[*events.KeepAliveTimeout]); got != 0 {
		t.Fatalf("%d keep-alive timeouts", got)
	}
}

func TestUnhandledIQFailsFast(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reported []string
	n, err := wafake.Start(wafake.Config{ShortPreKeyUpload: true, OnUnhandled: func(p string) {
		mu.Lock()
		reported = append(reported, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	pair(t, tc, phone)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = tc.GetBlocklist(ctx)
	var iqErr *whatsmeow.IQError
	if !errors.As(err, &iqErr) || iqErr.Code != 501 {
		t.Fatalf("GetBlocklist error %v, want a 501 IQ error", err)
	}
	problems := n.Unhandled()
	if len(problems) != 1 || !strings.Contains(problems[0], `xmlns="blocklist"`) {
		t.Fatalf("unhandled %q", problems)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 {
		t.Fatalf("OnUnhandled got %q", reported)
	}
}
