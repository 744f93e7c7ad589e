package wafake

import (
	"fmt"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// account is one WhatsApp user: a primary device (a fake phone, always device 0) and the companion
// devices linked to it. All fields are guarded by Network.mu.
type account struct {
	pn         types.JID // phone number JID, device 0
	lid        types.JID // hidden user JID, device 0
	primary    *Contact
	companions map[uint16]*device
	nextDevice uint16
	privacy    map[string]string
}

// device is a companion device (a whatsmeow client) linked to an account. Guarded by Network.mu.
type device struct {
	jid      types.JID
	lid      types.JID
	noiseKey [32]byte
	identity [32]byte
	regID    uint32
	signed   *keys.PreKey   // public part only
	preKeys  []*keys.PreKey // uploaded one-time prekeys not yet handed out
	uploaded bool           // the device uploaded prekeys at least once
	conn     *serverConn    // logged-in connection, if any
	pending  []waBinary.Node
	removed  bool
}

// normalizePhone turns "+1 555-000-1111" into "15550001111". It panics on anything that is not a
// phone number, because that is a bug in the calling test.
func normalizePhone(number string) string {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')':
			return -1
		default:
			panic(fmt.Sprintf("wafake: invalid phone number %q", number))
		}
	}, number)
	if len(digits) < 5 || digits[0] == '0' {
		panic(fmt.Sprintf("wafake: invalid phone number %q", number))
	}
	return digits
}

func defaultPrivacy() map[string]string {
	return map[string]string{
		"groupadd":     "all",
		"last":         "all",
		"status":       "all",
		"profile":      "all",
		"readreceipts": "all",
		"online":       "all",
		"calladd":      "all",
	}
}

// accountLocked finds the account of a PN or LID JID. The caller holds Network.mu.
func (n *Network) accountLocked(jid types.JID) *account {
	switch jid.Server {
	case types.DefaultUserServer:
		return n.accounts[jid.User]
	case types.HiddenUserServer:
		return n.lidAccounts[jid.User]
	}
	return nil
}

// devicesLocked lists the live devices of the user of jid (primary first), addressed on the same
// server as jid. The caller holds Network.mu.
func (n *Network) devicesLocked(jid types.JID) []types.JID {
	acct := n.accountLocked(jid)
	if acct == nil {
		return nil
	}
	base := acct.pn
	if jid.Server == types.HiddenUserServer {
		base = acct.lid
	}
	out := []types.JID{base}
	for id := uint16(1); id < acct.nextDevice; id++ {
		if dev, ok := acct.companions[id]; ok && !dev.removed {
			d := base
			d.Device = id
			out = append(out, d)
		}
	}
	return out
}

// companionLocked returns the live companion device for an AD JID. The caller holds Network.mu.
func (n *Network) companionLocked(jid types.JID) *device {
	acct := n.accountLocked(jid)
	if acct == nil || jid.Device == 0 {
		return nil
	}
	dev := acct.companions[jid.Device]
	if dev == nil || dev.removed {
		return nil
	}
	return dev
}
