package wafake

import (
	"maps"
	"slices"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleNode dispatches one node from the client.
func (c *serverConn) handleNode(node *waBinary.Node) {
	if node.Tag == "iq" {
		c.handleIQ(node)
		return
	}
	if c.jid.IsEmpty() {
		c.n.recordUnhandled("pre-login %s node: %s", node.Tag, shortXML(node))
		return
	}
	switch node.Tag {
	case "message":
		c.handleMessage(node)
	case "receipt":
		c.handleReceipt(node)
	case "ack":
		if code := node.AttrGetter().OptionalString("error"); code != "" {
			c.n.recordUnhandled("%s nacked %s with error %s: %s", c.jid, node.AttrGetter().OptionalString("class"), code, shortXML(node))
		}
	case "presence", "chatstate":
		// Accepted and dropped: the fake does not fan out presence.
	default:
		c.n.recordUnhandled("%s sent unhandled %s node: %s", c.jid, node.Tag, shortXML(node))
	}
}

// iqHandler answers one IQ request; it returns the result's children, or ok=false when the fake
// cannot answer (the client then gets a 501 error and the IQ is recorded as unhandled).
type iqHandler func(c *serverConn, node *waBinary.Node) (content []waBinary.Node, ok bool)

func (c *serverConn) handleIQ(node *waBinary.Node) {
	ag := node.AttrGetter()
	typ := ag.OptionalString("type")
	if typ == "result" || typ == "error" {
		if !c.resolveWaiter(node) && typ == "error" {
			c.n.recordUnhandled("%s answered an IQ with an error: %s", c.name(), shortXML(node))
		}
		return
	}
	xmlns := ag.OptionalString("xmlns")
	var handler iqHandler
	switch {
	case xmlns == "w:p":
		handler = handlePing
	case c.jid.IsEmpty():
		// Nothing else is allowed before login.
	case xmlns == "encrypt":
		handler = handleEncryptIQ
	case xmlns == "usync":
		handler = handleUsyncIQ
	case xmlns == "privacy":
		handler = handlePrivacyIQ
	case xmlns == "passive":
		handler = handlePassiveIQ
	case xmlns == "md":
		handler = handleMDIQ
	}
	var content []waBinary.Node
	ok := false
	if handler != nil {
		content, ok = handler(c, node)
	}
	if !ok {
		c.n.recordUnhandled("%s sent unhandled IQ xmlns=%q type=%q: %s", c.name(), xmlns, typ, shortXML(node))
		c.send(waBinary.Node{
			Tag:   "iq",
			Attrs: waBinary.Attrs{"id": node.Attrs["id"], "type": "error", "from": types.ServerJID},
			Content: []waBinary.Node{{
				Tag:   "error",
				Attrs: waBinary.Attrs{"code": "501", "text": "feature-not-implemented"},
			}},
		})
		return
	}
	result := waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"id": node.Attrs["id"], "type": "result", "from": types.ServerJID},
	}
	if len(content) > 0 {
		result.Content = content
	}
	c.send(result)
}

func handlePing(*serverConn, *waBinary.Node) ([]waBinary.Node, bool) { return nil, true }

func handlePassiveIQ(_ *serverConn, node *waBinary.Node) ([]waBinary.Node, bool) {
	children := node.GetChildren()
	if len(children) != 1 || (children[0].Tag != "active" && children[0].Tag != "passive") {
		return nil, false
	}
	return nil, true
}

func handlePrivacyIQ(c *serverConn, node *waBinary.Node) ([]waBinary.Node, bool) {
	privacy, ok := node.GetOptionalChildByTag("privacy")
	if !ok {
		return nil, false
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	acct := n.accountLocked(c.jid)
	if acct == nil {
		return nil, false
	}
	switch node.AttrGetter().OptionalString("type") {
	case "get":
		categories := make([]waBinary.Node, 0, len(acct.privacy))
		for _, name := range slices.Sorted(maps.Keys(acct.privacy)) {
			categories = append(categories, waBinary.Node{
				Tag:   "category",
				Attrs: waBinary.Attrs{"name": name, "value": acct.privacy[name]},
			})
		}
		return []waBinary.Node{{Tag: "privacy", Content: categories}}, true
	case "set":
		for _, cat := range privacy.GetChildrenByTag("category") {
			ag := cat.AttrGetter()
			acct.privacy[ag.String("name")] = ag.String("value")
		}
		return nil, true
	}
	return nil, false
}

// handleMDIQ handles multi-device management; only the client's own logout is supported.
func handleMDIQ(c *serverConn, node *waBinary.Node) ([]waBinary.Node, bool) {
	remove, ok := node.GetOptionalChildByTag("remove-companion-device")
	if !ok {
		return nil, false
	}
	target := remove.AttrGetter().JID("jid")
	if target != c.jid {
		return nil, false
	}
	c.n.mu.Lock()
	dev := c.n.companionLocked(target)
	if dev != nil {
		dev.removed = true
		dev.pending = nil
	}
	c.n.mu.Unlock()
	if dev != nil {
		c.n.notifyDeviceChange(target, false)
	}
	return nil, true
}

// shortXML renders a node for problem reports, cut to a readable length.
func shortXML(node *waBinary.Node) string {
	const limit = 600
	s := node.XMLString()
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}
