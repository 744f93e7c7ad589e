package wafake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Contact is a fake WhatsApp user's primary device (device 0, the phone). It holds real Signal
// sessions, so it can exchange end-to-end encrypted messages and receipts with whatsmeow
// clients and with other fake users. It is safe for concurrent use.
type Contact struct {
	n     *Network
	jid   types.JID // phone number JID, device 0
	lid   types.JID
	store *signalStore

	cryptoMu sync.Mutex // serializes Signal operations of this device
	inbound  *queue[waBinary.Node]
	messages *queue[ReceivedMessage]
	receipts *queue[ReceivedReceipt]
}

// ReceivedMessage is a message a fake contact received and decrypted.
type ReceivedMessage struct {
	// ID is the message ID chosen by the sender.
	ID types.MessageID
	// From is the sending device.
	From types.JID
	// Chat is the conversation: the sender's user JID, or for a message one of the contact's own
	// companion devices sent to someone else, that someone (see DeviceSentMessage).
	Chat types.JID
	// Timestamp is the server timestamp.
	Timestamp time.Time
	// PreKey reports whether the message arrived as a pkmsg: Signal sends those until the
	// recipient has answered on the session.
	PreKey bool
	// Message is the decrypted message.
	Message *waE2E.Message
}

// Text returns the text of a plain or extended text message, looking inside device-sent
// wrappers; it is empty for other message types.
func (m ReceivedMessage) Text() string {
	msg := m.Message
	if dsm := msg.GetDeviceSentMessage(); dsm != nil {
		msg = dsm.GetMessage()
	}
	if text := msg.GetConversation(); text != "" {
		return text
	}
	return msg.GetExtendedTextMessage().GetText()
}

// ReceivedReceipt is a receipt a fake contact received.
type ReceivedReceipt struct {
	// From is the device that sent the receipt.
	From types.JID
	// MessageIDs lists the acknowledged messages.
	MessageIDs []types.MessageID
	// Type is the receipt type; types.ReceiptTypeDelivered (empty) for plain delivery.
	Type types.ReceiptType
	// Timestamp is the server timestamp.
	Timestamp time.Time
}

func newContact(n *Network, acct *account) *Contact {
	c := &Contact{
		n:        n,
		jid:      acct.pn,
		lid:      acct.lid,
		store:    newSignalStore(),
		inbound:  newQueue[waBinary.Node](),
		messages: newQueue[ReceivedMessage](),
		receipts: newQueue[ReceivedReceipt](),
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		c.run()
	}()
	return c
}

// JID returns the user's phone number JID (also the primary device's JID).
func (c *Contact) JID() types.JID { return c.jid }

// LID returns the user's hidden (LID) JID.
func (c *Contact) LID() types.JID { return c.lid }

// WaitMessage returns the next message this device received, waiting until one arrives or ctx
// ends.
func (c *Contact) WaitMessage(ctx context.Context) (ReceivedMessage, error) {
	msg, err := c.messages.pop(ctx)
	if err != nil {
		return msg, fmt.Errorf("wafake: %s waiting for a message: %w", c.jid, err)
	}
	return msg, nil
}

// WaitReceipt returns the next receipt this device received, waiting until one arrives or ctx
// ends.
func (c *Contact) WaitReceipt(ctx context.Context) (ReceivedReceipt, error) {
	r, err := c.receipts.pop(ctx)
	if err != nil {
		return r, fmt.Errorf("wafake: %s waiting for a receipt: %w", c.jid, err)
	}
	return r, nil
}

// SendText sends a plain text message to a user (all of its devices) or to one device.
func (c *Contact) SendText(ctx context.Context, to types.JID, text string) (types.MessageID, error) {
	return c.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)})
}

// SendMessage encrypts msg for every device of to (or only to, if it names a device) and for the
// user's own companion devices (wrapped as a DeviceSentMessage), and hands it to the server.
// It returns once every copy is queued for delivery; offline clients get it when they log in.
func (c *Contact) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message) (types.MessageID, error) {
	plaintext, err := proto.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("wafake: marshal message: %w", err)
	}
	dsm, err := proto.Marshal(&waE2E.Message{
		DeviceSentMessage:  &waE2E.DeviceSentMessage{DestinationJID: proto.String(to.ToNonAD().String()), Message: msg},
		MessageContextInfo: msg.GetMessageContextInfo(),
	})
	if err != nil {
		return "", fmt.Errorf("wafake: marshal device-sent message: %w", err)
	}
	c.n.mu.Lock()
	targets := []types.JID{to}
	if to.Device == 0 {
		targets = c.n.devicesLocked(to)
	}
	own := c.n.devicesLocked(c.jid)
	c.n.mu.Unlock()
	if len(targets) == 0 {
		return "", fmt.Errorf("wafake: %s is not a user of this network", to)
	}

	id := whatsmeow.GenerateMessageID()
	now := time.Now().Unix()
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	send := func(target types.JID, payload []byte, recipient types.JID) error {
		enc, err := c.encryptFor(ctx, target, payload)
		if err != nil {
			return fmt.Errorf("wafake: %s encrypting for %s: %w", c.jid, target, err)
		}
		attrs := waBinary.Attrs{"id": id, "from": c.jid, "type": "text", "t": now}
		if !recipient.IsEmpty() {
			attrs["recipient"] = recipient
		}
		if !c.n.deliver(target, waBinary.Node{Tag: "message", Attrs: attrs, Content: []waBinary.Node{enc}}) {
			return fmt.Errorf("wafake: device %s disappeared", target)
		}
		return nil
	}
	for _, target := range targets {
		if target == c.jid {
			continue
		}
		payload, recipient := plaintext, types.EmptyJID
		if target.User == c.jid.User {
			payload, recipient = dsm, to.ToNonAD()
		}
		if err = send(target, payload, recipient); err != nil {
			return "", err
		}
	}
	if to.ToNonAD() != c.jid.ToNonAD() {
		for _, target := range own {
			if target != c.jid {
				if err = send(target, dsm, to.ToNonAD()); err != nil {
					return "", err
				}
			}
		}
	}
	return id, nil
}

// SendReceipt sends a receipt (types.ReceiptTypeDelivered, types.ReceiptTypeRead, …) for
// messages that to sent; every device of to's user receives it.
func (c *Contact) SendReceipt(ctx context.Context, to types.JID, ids []types.MessageID, typ types.ReceiptType) error {
	if len(ids) == 0 {
		return errors.New("wafake: no message IDs")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	attrs := waBinary.Attrs{"id": ids[0], "from": c.jid, "t": time.Now().Unix()}
	if typ != types.ReceiptTypeDelivered {
		attrs["type"] = string(typ)
	}
	node := waBinary.Node{Tag: "receipt", Attrs: attrs}
	if len(ids) > 1 {
		items := make([]waBinary.Node, len(ids)-1)
		for i, id := range ids[1:] {
			items[i] = waBinary.Node{Tag: "item", Attrs: waBinary.Attrs{"id": id}}
		}
		node.Content = []waBinary.Node{{Tag: "list", Content: items}}
	}
	c.n.mu.Lock()
	known := c.n.accountLocked(to) != nil
	c.n.mu.Unlock()
	if !known {
		return fmt.Errorf("wafake: %s is not a user of this network", to)
	}
	c.n.deliverToUser(to.ToNonAD(), c.jid, node)
	return nil
}

// encryptFor encrypts a padded payload for one device, starting a session from the device's
// prekey bundle if there is none yet. The caller holds cryptoMu.
func (c *Contact) encryptFor(ctx context.Context, target types.JID, payload []byte) (waBinary.Node, error) {
	addr := target.SignalAddress()
	builder := session.NewBuilderFromSignal(c.store, addr, serializer)
	hasSession, err := c.store.ContainsSession(ctx, addr)
	if err != nil {
		return waBinary.Node{}, err
	}
	if !hasSession {
		keys, err := c.n.bundleFor(target)
		if err != nil {
			return waBinary.Node{}, fmt.Errorf("fetch prekey bundle: %w", err)
		}
		if err = builder.ProcessBundle(ctx, keys.bundle(target.Device)); err != nil {
			return waBinary.Node{}, fmt.Errorf("process prekey bundle: %w", err)
		}
	}
	ciphertext, err := session.NewCipher(builder, addr).Encrypt(ctx, padMessage(payload))
	if err != nil {
		return waBinary.Node{}, fmt.Errorf("encrypt: %w", err)
	}
	typ := "msg"
	if ciphertext.Type() == protocol.PREKEY_TYPE {
		typ = "pkmsg"
	}
	return waBinary.Node{
		Tag:     "enc",
		Attrs:   waBinary.Attrs{"v": "2", "type": typ},
		Content: ciphertext.Serialize(),
	}, nil
}

// run processes nodes the server delivers to this device until the network closes.
func (c *Contact) run() {
	for {
		node, err := c.inbound.pop(c.n.ctx)
		if err != nil {
			return
		}
		switch node.Tag {
		case "message":
			c.receiveMessage(&node)
		case "receipt":
			c.receiveReceipt(&node)
		default:
			c.n.recordUnhandled("%s got unexpected %s node: %s", c.jid, node.Tag, shortXML(&node))
		}
	}
}

func (c *Contact) receiveMessage(node *waBinary.Node) {
	ag := node.AttrGetter()
	msg := ReceivedMessage{
		ID:        types.MessageID(ag.String("id")),
		From:      ag.JID("from"),
		Timestamp: ag.UnixTime("t"),
	}
	msg.Chat = msg.From.ToNonAD()
	if recipient := ag.OptionalJID("recipient"); recipient != nil {
		msg.Chat = *recipient
	}
	if !ag.OK() {
		c.n.recordUnhandled("%s got a malformed message: %v: %s", c.jid, ag.Error(), shortXML(node))
		return
	}
	enc, ok := node.GetOptionalChildByTag("enc")
	content, isBytes := enc.Content.([]byte)
	if !ok || !isBytes {
		c.n.recordUnhandled("%s got message %s without ciphertext: %s", c.jid, msg.ID, shortXML(node))
		return
	}
	msg.PreKey = enc.AttrGetter().OptionalString("type") == "pkmsg"
	plaintext, err := c.decrypt(msg.From, content, msg.PreKey)
	if err != nil {
		c.n.recordUnhandled("%s failed to decrypt message %s from %s: %v", c.jid, msg.ID, msg.From, err)
		return
	}
	msg.Message = &waE2E.Message{}
	if err = proto.Unmarshal(plaintext, msg.Message); err != nil {
		c.n.recordUnhandled("%s got message %s from %s with a bad protobuf: %v", c.jid, msg.ID, msg.From, err)
		return
	}
	c.messages.push(msg)
}

func (c *Contact) decrypt(from types.JID, content []byte, preKey bool) ([]byte, error) {
	ctx := c.n.ctx
	addr := from.SignalAddress()
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	cipher := session.NewCipher(session.NewBuilderFromSignal(c.store, addr, serializer), addr)
	var padded []byte
	if preKey {
		msg, err := protocol.NewPreKeySignalMessageFromBytes(content, serializer.PreKeySignalMessage, serializer.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse pkmsg: %w", err)
		}
		if padded, err = cipher.DecryptMessage(ctx, msg); err != nil {
			return nil, fmt.Errorf("decrypt pkmsg: %w", err)
		}
	} else {
		msg, err := protocol.NewSignalMessageFromBytes(content, serializer.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse msg: %w", err)
		}
		if padded, err = cipher.Decrypt(ctx, msg); err != nil {
			return nil, fmt.Errorf("decrypt msg: %w", err)
		}
	}
	return unpadMessage(padded)
}

func (c *Contact) receiveReceipt(node *waBinary.Node) {
	ag := node.AttrGetter()
	r := ReceivedReceipt{
		From:       ag.JID("from"),
		MessageIDs: []types.MessageID{ag.String("id")},
		Type:       types.ReceiptType(ag.OptionalString("type")),
		Timestamp:  ag.UnixTime("t"),
	}
	if !ag.OK() {
		c.n.recordUnhandled("%s got a malformed receipt: %v: %s", c.jid, ag.Error(), shortXML(node))
		return
	}
	list := node.GetChildByTag("list")
	for _, item := range list.GetChildrenByTag("item") {
		if id, ok := item.Attrs["id"].(string); ok {
			r.MessageIDs = append(r.MessageIDs, id)
		}
	}
	c.receipts.push(r)
}

// padMessage appends WhatsApp's random padding (1 to 15 bytes, each holding the pad length).
func padMessage(plaintext []byte) []byte {
	var b [1]byte
	_, _ = rand.Read(b[:])
	pad := b[0] & 0x0f
	if pad == 0 {
		pad = 0x0f
	}
	out := make([]byte, len(plaintext), len(plaintext)+int(pad))
	copy(out, plaintext)
	for range pad {
		out = append(out, pad)
	}
	return out
}

func unpadMessage(padded []byte) ([]byte, error) {
	if len(padded) == 0 {
		return nil, errors.New("empty plaintext")
	}
	pad := int(padded[len(padded)-1])
	if pad == 0 || pad > len(padded) {
		return nil, fmt.Errorf("invalid padding length %d", pad)
	}
	for _, b := range padded[len(padded)-pad:] {
		if int(b) != pad {
			return nil, errors.New("invalid padding bytes")
		}
	}
	return padded[:len(padded)-pad], nil
}
