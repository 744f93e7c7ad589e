package wafake_test

import (
	"testing"

	"github.com/wagate/wagate/internal/wafake"
)

func TestPairAndLogin(t *testing.T) {
	// Not parallel: CPU-heavy, it would starve (and be starved by) the other tests.
	n := newNetwork(t, wafake.Config{})
	phone := n.NewPhone("+15550001111")
	tc := newClient(t, n)
	jid := pair(t, tc, phone)

	if jid.User != "15550001111" || jid.Device == 0 {
		t.Fatalf("unexpected device JID %s", jid)
	}
	if got := tc.Store.GetJID(); got != jid {
		t.Fatalf("stored JID %s, want %s", got, jid)
	}
	if got := tc.Store.GetLID(); got.User != phone.LID().User || got.Device != jid.Device {
		t.Fatalf("stored LID %s, want %s with device %d", got, phone.LID(), jid.Device)
	}
	if !tc.IsLoggedIn() || !n.Connected(jid) {
		t.Fatal("client is not logged in after pairing")
	}
}
