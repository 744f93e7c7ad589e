package wafake

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// qrRefCount is how many QR refs the server hands out per pairing attempt.
const qrRefCount = 6

// startPairing hands a fresh, unregistered client the refs it turns into QR codes.
func (c *serverConn) startPairing() {
	refs := make([]waBinary.Node, qrRefCount)
	c.n.mu.Lock()
	for i := range refs {
		raw := make([]byte, 24)
		_, _ = rand.Read(raw)
		ref := "2@" + base64.StdEncoding.EncodeToString(raw)
		c.n.refs[ref] = c
		refs[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	c.n.mu.Unlock()
	c.send(waBinary.Node{
		Tag: "iq",
		Attrs: waBinary.Attrs{
			"from":  types.ServerJID,
			"type":  "set",
			"id":    c.n.nextID(),
			"xmlns": "md",
		},
		Content: []waBinary.Node{{Tag: "pair-device", Content: refs}},
	})
}

// login authenticates a registered device: success, then its offline queue. A device that is
// unknown, unlinked or presents another noise key gets a 401 failure (the client logs out).
// A device that already has a live connection takes it over; the old one gets "replaced".
func (c *serverConn) login() {
	jid := types.JID{
		User:   strconv.FormatUint(c.payload.GetUsername(), 10),
		Device: uint16(c.payload.GetDevice()),
		Server: types.DefaultUserServer,
	}
	n := c.n
	n.mu.Lock()
	dev := n.companionLocked(jid)
	if dev == nil || dev.noiseKey != c.noiseKey {
		n.mu.Unlock()
		n.log.Infof("rejecting login of %s: device unknown or unlinked", jid)
		c.send(waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": "401", "location": "fake"}})
		c.closeAfterError()
		return
	}
	old := dev.conn
	dev.conn = c
	c.jid = dev.jid
	now := time.Now().Unix()
	c.send(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t":        now,
		"props":    "1",
		"abprops":  "1",
		"location": "fake",
		"creation": now,
		"lid":      dev.lid,
	}})
	pending := dev.pending
	dev.pending = nil
	for _, node := range pending {
		c.sendMessage(node)
	}
	c.send(waBinary.Node{Tag: "ib", Content: []waBinary.Node{{
		Tag:   "offline",
		Attrs: waBinary.Attrs{"count": len(pending)},
	}}})
	n.mu.Unlock()
	if old != nil {
		old.send(streamError("", "replaced"))
		old.closeAfterError()
	}
}

// streamError builds a stream:error node with an optional code and conflict type.
func streamError(code, conflict string) waBinary.Node {
	node := waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{}}
	if code != "" {
		node.Attrs["code"] = code
	}
	if conflict != "" {
		node.Content = []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": conflict}}}
	}
	return node
}
