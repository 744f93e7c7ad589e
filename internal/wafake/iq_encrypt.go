package wafake

import (
	"bytes"
	"encoding/binary"
	"errors"

	"go.mau.fi/whatsmeow"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// handleEncryptIQ answers prekey count queries, prekey uploads and prekey bundle fetches.
func handleEncryptIQ(c *serverConn, node *waBinary.Node) ([]waBinary.Node, bool) {
	typ := node.AttrGetter().OptionalString("type")
	children := node.GetChildren()
	if len(children) == 0 {
		return nil, false
	}
	switch {
	case typ == "get" && children[0].Tag == "count":
		c.n.mu.Lock()
		count := 0
		if dev := c.n.companionLocked(c.jid); dev != nil {
			count = len(dev.preKeys)
			if !dev.uploaded && c.n.cfg.ShortPreKeyUpload {
				count = whatsmeow.MinPreKeyCount - 1
			}
		}
		c.n.mu.Unlock()
		return []waBinary.Node{{Tag: "count", Attrs: waBinary.Attrs{"value": count}}}, true
	case typ == "get" && children[0].Tag == "key":
		return []waBinary.Node{c.fetchBundles(children[0])}, true
	case typ == "set" && node.GetChildByTag("list").Tag == "list":
		return nil, c.storeUpload(node)
	}
	return nil, false
}

// fetchBundles builds the <list> answer to `encrypt get key`.
func (c *serverConn) fetchBundles(req waBinary.Node) waBinary.Node {
	var users []waBinary.Node
	for _, user := range req.GetChildrenByTag("user") {
		jid, ok := user.Attrs["jid"].(types.JID)
		if !ok {
			c.n.recordUnhandled("%s: prekey request without jid: %s", c.jid, shortXML(&user))
			continue
		}
		b, err := c.n.bundleFor(jid)
		if err != nil {
			if errors.Is(err, errDeviceRemoved) {
				c.n.log.Infof("%s asked for prekeys of %s: %v", c.jid, jid, err)
			} else {
				c.n.recordUnhandled("%s asked for prekeys of %s: %v", c.jid, jid, err)
			}
			users = append(users, waBinary.Node{
				Tag:     "user",
				Attrs:   waBinary.Attrs{"jid": jid},
				Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": "404", "text": "item-not-found"}}},
			})
			continue
		}
		users = append(users, b.node(jid))
	}
	return waBinary.Node{Tag: "list", Content: users}
}

// storeUpload records a client's prekey upload (identity, registration ID, prekeys, signed key).
func (c *serverConn) storeUpload(node *waBinary.Node) bool {
	reg, ok := node.GetChildByTag("registration").Content.([]byte)
	if !ok || len(reg) != 4 {
		c.n.log.Warnf("%s: prekey upload with bad registration ID", c.jid)
		return false
	}
	ident, ok := node.GetChildByTag("identity").Content.([]byte)
	if !ok || len(ident) != 32 {
		c.n.log.Warnf("%s: prekey upload with bad identity", c.jid)
		return false
	}
	signed, err := parsePreKeyNode(node.GetChildByTag("skey"))
	if err != nil {
		c.n.log.Warnf("%s: prekey upload with bad signed prekey: %v", c.jid, err)
		return false
	}
	listNode := node.GetChildByTag("list")
	list := listNode.GetChildren()
	uploaded := make([]*keys.PreKey, 0, len(list))
	for _, child := range list {
		key, err := parsePreKeyNode(child)
		if err != nil {
			c.n.log.Warnf("%s: prekey upload with bad prekey: %v", c.jid, err)
			return false
		}
		uploaded = append(uploaded, key)
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	dev := c.n.companionLocked(c.jid)
	if dev == nil {
		return false
	}
	if !bytes.Equal(ident, dev.identity[:]) {
		c.n.log.Warnf("%s uploaded an identity key that differs from the one it paired with", c.jid)
		dev.identity = [32]byte(ident)
	}
	dev.regID = binary.BigEndian.Uint32(reg)
	dev.signed = signed
	dev.preKeys = append(dev.preKeys, uploaded...)
	dev.uploaded = true
	return true
}
