package wafake

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// deliver hands a message or receipt node to a device: a fake primary device's inbox, a connected
// client, or the offline queue of a disconnected client. It reports whether the device exists
// (or existed: nodes for unlinked devices are dropped).
func (n *Network) deliver(to types.JID, node waBinary.Node) bool {
	n.mu.Lock()
	acct := n.accountLocked(to)
	if acct == nil {
		n.mu.Unlock()
		return false
	}
	if to.Device == 0 {
		primary := acct.primary
		n.mu.Unlock()
		wire, err := roundTrip(node)
		if err != nil {
			n.recordUnhandled("cannot encode %s for %s: %v", node.Tag, to, err)
			return true
		}
		primary.inbound.push(*wire)
		return true
	}
	defer n.mu.Unlock()
	dev := acct.companions[to.Device]
	if dev == nil {
		return false
	}
	if dev.removed {
		// A sender with a stale device list; the real server drops these too.
		n.log.Infof("dropping %s for unlinked device %s", node.Tag, to)
		return true
	}
	if dev.conn != nil {
		dev.conn.sendMessage(node)
	} else {
		dev.pending = append(dev.pending, node)
	}
	return true
}

// deliverToUser fans a node out to every live device of a user except skip.
func (n *Network) deliverToUser(user, skip types.JID, node waBinary.Node) {
	n.mu.Lock()
	devices := n.devicesLocked(user)
	n.mu.Unlock()
	for _, d := range devices {
		if d != skip {
			n.deliver(d, node)
		}
	}
}

// handleMessage fans an outgoing client message out to the devices it was encrypted for and
// acknowledges it, which unblocks the client's SendMessage.
func (c *serverConn) handleMessage(node *waBinary.Node) {
	ag := node.AttrGetter()
	id := ag.String("id")
	to := ag.JID("to")
	if !ag.OK() {
		c.n.recordUnhandled("%s sent a malformed message: %v: %s", c.jid, ag.Error(), shortXML(node))
		return
	}
	now := time.Now().Unix()
	base := waBinary.Attrs{"id": id, "from": c.jid, "t": now}
	for _, key := range []string{"type", "category", "edit", "notify"} {
		if v := ag.OptionalString(key); v != "" {
			base[key] = v
		}
	}
	identity, hasIdentity := node.GetOptionalChildByTag("device-identity")

	deliverEnc := func(target types.JID, enc waBinary.Node) {
		attrs := make(waBinary.Attrs, len(base)+1)
		for k, v := range base {
			attrs[k] = v
		}
		if target.User == c.jid.User && target.Server == c.jid.Server && to.ToNonAD() != c.jid.ToNonAD() {
			attrs["recipient"] = to.ToNonAD() // sent by one of the user's devices to someone else
		}
		content := []waBinary.Node{enc}
		if hasIdentity && enc.AttrGetter().OptionalString("type") == "pkmsg" {
			content = append(content, identity)
		}
		if !c.n.deliver(target, waBinary.Node{Tag: "message", Attrs: attrs, Content: content}) {
			c.n.recordUnhandled("%s sent message %s to unknown device %s", c.jid, id, target)
		}
	}

	if participants, ok := node.GetOptionalChildByTag("participants"); ok {
		for _, p := range participants.GetChildrenByTag("to") {
			target, ok := p.Attrs["jid"].(types.JID)
			enc, hasEnc := p.GetOptionalChildByTag("enc")
			if !ok || !hasEnc {
				c.n.recordUnhandled("%s sent message %s with a malformed participant: %s", c.jid, id, shortXML(&p))
				continue
			}
			deliverEnc(target, enc)
		}
	} else if enc, ok := node.GetOptionalChildByTag("enc"); ok {
		deliverEnc(to, enc) // a peer message to one of the user's own devices
	} else {
		c.n.recordUnhandled("%s sent message %s without participants: %s", c.jid, id, shortXML(node))
	}
	c.send(waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{
		"class": "message",
		"id":    id,
		"from":  to,
		"t":     now,
	}})
}

// handleReceipt forwards a client's receipt to the devices of the user it is addressed to and
// acknowledges it. Retry receipts mean the client failed to decrypt: they are recorded.
func (c *serverConn) handleReceipt(node *waBinary.Node) {
	ag := node.AttrGetter()
	id := ag.String("id")
	to := ag.JID("to")
	typ := ag.OptionalString("type")
	if !ag.OK() {
		c.n.recordUnhandled("%s sent a malformed receipt: %v: %s", c.jid, ag.Error(), shortXML(node))
		return
	}
	ack := waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "receipt", "id": id, "from": to}}
	if typ != "" {
		ack.Attrs["type"] = typ
	}
	c.send(ack)
	if typ == "retry" || typ == "enc_rekey_retry" {
		c.n.recordUnhandled("%s could not decrypt message %s from %s (retry receipt): %s", c.jid, id, to, shortXML(node))
		return
	}
	attrs := waBinary.Attrs{"id": id, "from": c.jid, "t": time.Now().Unix()}
	if typ != "" {
		attrs["type"] = typ
	}
	for _, key := range []string{"recipient", "participant"} {
		if v, ok := node.Attrs[key]; ok {
			attrs[key] = v
		}
	}
	forward := waBinary.Node{Tag: "receipt", Attrs: attrs}
	if node.Content != nil {
		forward.Content = node.Content
	}
	c.n.deliverToUser(to.ToNonAD(), c.jid, forward)
}

// roundTrip encodes and decodes a node, so that fake devices see attributes exactly as a client
// would after the wire (strings and JIDs only).
func roundTrip(node waBinary.Node) (*waBinary.Node, error) {
	data, err := waBinary.Marshal(node)
	if err != nil {
		return nil, err
	}
	unpacked, err := waBinary.Unpack(data)
	if err != nil {
		return nil, err
	}
	return waBinary.Unmarshal(unpacked)
}
