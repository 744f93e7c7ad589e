package wafake

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// deviceListHash is the hash clients compare against their cached device list of a user:
// "2:" and the unpadded base64 of the first 6 bytes of SHA-256 over the sorted AD strings.
func deviceListHash(devices []types.JID) string {
	ads := make([]string, len(devices))
	for i, d := range devices {
		ads[i] = d.ADString()
	}
	slices.Sort(ads)
	sum := sha256.Sum256([]byte(strings.Join(ads, "")))
	return "2:" + base64.RawStdEncoding.EncodeToString(sum[:6])
}

// notifyDeviceChange tells every connected client that a user's device list changed, so that
// cached device lists pick up a newly linked device or drop an unlinked one.
func (n *Network) notifyDeviceChange(changed types.JID, added bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	user := changed.ToNonAD()
	action := "remove"
	if added {
		action = "add"
	}
	node := waBinary.Node{
		Tag: "notification",
		Attrs: waBinary.Attrs{
			"from": user,
			"type": "devices",
			"id":   n.nextID(),
			"t":    time.Now().Unix(),
		},
		Content: []waBinary.Node{{
			Tag:     action,
			Attrs:   waBinary.Attrs{"device_hash": deviceListHash(n.devicesLocked(user))},
			Content: []waBinary.Node{{Tag: "device", Attrs: waBinary.Attrs{"jid": changed}}},
		}},
	}
	for _, acct := range n.accounts {
		for _, dev := range acct.companions {
			if dev.conn != nil && dev.jid != changed && !dev.removed {
				dev.conn.sendMessage(node)
			}
		}
	}
}
