package wafake

import (
	"strconv"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleUsyncIQ answers user sync queries: device lists, LIDs, "is on WhatsApp" contact checks
// and empty status/picture/business details.
func handleUsyncIQ(c *serverConn, node *waBinary.Node) ([]waBinary.Node, bool) {
	usync, ok := node.GetOptionalChildByTag("usync")
	if !ok {
		return nil, false
	}
	queryNode, listNode := usync.GetChildByTag("query"), usync.GetChildByTag("list")
	query := queryNode.GetChildren()
	for _, q := range query {
		switch q.Tag {
		case "devices", "lid", "contact", "status", "picture", "business":
		default:
			return nil, false // recorded by handleIQ
		}
	}
	var users []waBinary.Node
	for _, user := range listNode.GetChildrenByTag("user") {
		users = append(users, c.usyncUser(user, query))
	}
	ag := usync.AttrGetter()
	result := waBinary.Node{
		Tag: "usync",
		Attrs: waBinary.Attrs{
			"sid":     ag.OptionalString("sid"),
			"mode":    ag.OptionalString("mode"),
			"context": ag.OptionalString("context"),
			"index":   "0",
			"last":    "true",
		},
		Content: []waBinary.Node{{Tag: "list", Content: users}},
	}
	return []waBinary.Node{result}, true
}

// usyncUser answers the queried protocols for one <user> of a usync list.
func (c *serverConn) usyncUser(user waBinary.Node, query []waBinary.Node) waBinary.Node {
	jid, hasJID := user.Attrs["jid"].(types.JID)
	contactQuery := ""
	if contact, ok := user.GetOptionalChildByTag("contact"); ok {
		switch v := contact.Content.(type) {
		case []byte:
			contactQuery = string(v)
		case string:
			contactQuery = v
		}
		if !hasJID {
			number := strings.TrimSuffix(strings.TrimPrefix(contactQuery, "+"), "@"+types.LegacyUserServer)
			if _, err := strconv.ParseUint(number, 10, 64); err == nil {
				jid, hasJID = types.NewJID(number, types.DefaultUserServer), true
			}
		}
	}
	n := c.n
	n.mu.Lock()
	acct := n.accountLocked(jid)
	var devices []types.JID
	var lid types.JID
	if acct != nil {
		devices = n.devicesLocked(jid)
		lid = acct.lid
	}
	n.mu.Unlock()
	if acct == nil {
		n.log.Infof("usync for unknown user %s (query %q)", jid, contactQuery)
	}

	children := make([]waBinary.Node, 0, len(query))
	for _, q := range query {
		switch q.Tag {
		case "devices":
			list := make([]waBinary.Node, len(devices))
			for i, d := range devices {
				list[i] = waBinary.Node{Tag: "device", Attrs: waBinary.Attrs{"id": int(d.Device)}}
				if d.Device != 0 {
					list[i].Attrs["key-index"] = int(d.Device)
				}
			}
			children = append(children, waBinary.Node{Tag: "devices", Content: []waBinary.Node{{Tag: "device-list", Content: list}}})
		case "lid":
			lidNode := waBinary.Node{Tag: "lid"}
			if acct != nil {
				lidNode.Attrs = waBinary.Attrs{"val": lid}
			}
			children = append(children, lidNode)
		case "contact":
			typ := "out"
			if acct != nil {
				typ = "in"
			}
			children = append(children, waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": typ}, Content: contactQuery})
		case "status":
			children = append(children, waBinary.Node{Tag: "status"})
		case "picture":
			children = append(children, waBinary.Node{Tag: "picture"})
		case "business":
			children = append(children, waBinary.Node{Tag: "business"})
		}
	}
	out := waBinary.Node{Tag: "user", Content: children}
	if hasJID {
		out.Attrs = waBinary.Attrs{"jid": jid}
	}
	return out
}
