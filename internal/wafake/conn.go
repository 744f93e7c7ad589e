package wafake

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/types"
)

const handshakeTimeout = 20 * time.Second

// outbound is one item of a connection's write queue: a node to send, or a request to close.
type outbound struct {
	node *waBinary.Node
	// redeliver marks messages and receipts that go back to the device's offline queue if the
	// connection closes before they were written.
	redeliver bool
	close     bool
	delay     time.Duration
}

// serverConn is the server side of one client websocket.
type serverConn struct {
	n      *Network
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	out    *queue[outbound]

	// Set during the handshake and login, before the read loop; read-only afterwards.
	readKey  cipher.AEAD
	writeKey cipher.AEAD
	payload  *waWa6.ClientPayload
	noiseKey [32]byte
	jid      types.JID // logged-in device; empty before login

	readCounter  uint32    // reader goroutine only
	writeCounter uint32    // writer goroutine only
	failed       *outbound // written by the writer, read by cleanup after the writer ended

	waitMu  sync.Mutex
	waiters map[string]chan *waBinary.Node

	acks *ackTracker
}

func newServerConn(n *Network, ws *websocket.Conn) *serverConn {
	ctx, cancel := context.WithCancel(n.ctx)
	return &serverConn{
		n:       n,
		ws:      ws,
		ctx:     ctx,
		cancel:  cancel,
		out:     newQueue[outbound](),
		waiters: make(map[string]chan *waBinary.Node),
		acks:    newAckTracker(),
	}
}

// serve runs the connection until either side closes it.
func (c *serverConn) serve() {
	defer c.cleanup()
	hsCtx, hsCancel := context.WithTimeout(c.ctx, handshakeTimeout)
	fr := &frameReader{ctx: hsCtx, ws: c.ws}
	res, err := serverHandshake(fr, c.writeRawFrame, c.n.static, c.n.certChain)
	hsCancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.n.log.Warnf("handshake failed: %v", err)
		}
		return
	}
	fr.ctx = c.ctx
	c.readKey, c.writeKey, c.payload, c.noiseKey = res.readKey, res.writeKey, res.payload, res.clientStatic

	// Login sets c.jid, so it runs before the writer starts; both only queue output.
	if c.payload.Username == nil {
		c.startPairing()
	} else {
		c.login()
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	defer func() {
		c.closeNow()
		<-writerDone
	}()
	c.readLoop(fr)
}

func (c *serverConn) readLoop(fr *frameReader) {
	for {
		frame, err := fr.next()
		if err != nil {
			return
		}
		plaintext, err := c.readKey.Open(nil, noiseIV(c.readCounter), frame, nil)
		c.readCounter++
		if err != nil {
			c.n.recordUnhandled("%s: failed to decrypt frame: %v", c.name(), err)
			return
		}
		unpacked, err := waBinary.Unpack(plaintext)
		if err != nil {
			c.n.recordUnhandled("%s: failed to unpack frame: %v", c.name(), err)
			continue
		}
		node, err := waBinary.Unmarshal(unpacked)
		if err != nil {
			c.n.recordUnhandled("%s: failed to decode node: %v", c.name(), err)
			continue
		}
		c.n.log.Debugf("%s -> %s", c.name(), node.XMLString())
		if c.n.cfg.OnReceive != nil {
			c.n.cfg.OnReceive(c.jid, node)
		}
		c.acks.received(node)
		c.handleNode(node)
	}
}

func (c *serverConn) writeLoop() {
	for {
		item, err := c.out.pop(c.ctx)
		if err != nil {
			return
		}
		if item.close {
			if item.delay > 0 {
				select {
				case <-time.After(item.delay):
				case <-c.ctx.Done():
				}
			}
			c.closeNow()
			return
		}
		if item.redeliver {
			c.acks.sent(item.node)
		}
		if err = c.writeNode(item.node); err != nil {
			if item.redeliver {
				c.failed = &item
			}
			if c.ctx.Err() == nil {
				c.n.log.Warnf("%s: write failed: %v", c.name(), err)
			}
			c.closeNow()
			return
		}
	}
}

func (c *serverConn) writeNode(node *waBinary.Node) error {
	c.n.log.Debugf("%s <- %s", c.name(), node.XMLString())
	if c.n.cfg.OnSend != nil {
		c.n.cfg.OnSend(c.jid, node)
	}
	payload, err := waBinary.Marshal(*node)
	if err != nil {
		return fmt.Errorf("marshal %s node: %w", node.Tag, err)
	}
	ciphertext := c.writeKey.Seal(nil, noiseIV(c.writeCounter), payload, nil)
	c.writeCounter++
	return c.writeRawFrame(ciphertext)
}

func (c *serverConn) writeRawFrame(data []byte) error {
	frame, err := encodeFrame(data)
	if err != nil {
		return err
	}
	return c.ws.Write(c.ctx, websocket.MessageBinary, frame)
}

// send queues a node for the client.
func (c *serverConn) send(node waBinary.Node) {
	c.out.push(outbound{node: &node})
}

// sendMessage queues a message or receipt that goes back to the offline queue if unsent.
func (c *serverConn) sendMessage(node waBinary.Node) {
	c.out.push(outbound{node: &node, redeliver: true})
}

// closeAfterError closes the connection after a fatal error node, if Config.CloseAfterError
// asks for it, once everything queued so far is written and the delay passed.
func (c *serverConn) closeAfterError() {
	if delay := c.n.cfg.CloseAfterError; delay > 0 {
		c.out.push(outbound{close: true, delay: delay})
	}
}

// closeNow drops the connection immediately, without a websocket close frame.
func (c *serverConn) closeNow() {
	c.cancel()
	_ = c.ws.CloseNow()
}

// cleanup unregisters the connection; unsent messages return to the offline queue.
func (c *serverConn) cleanup() {
	c.closeNow()
	c.out.close()
	var unsent []outbound
	if c.failed != nil {
		unsent = append(unsent, *c.failed)
	}
	for {
		item, err := c.out.pop(context.Background())
		if err != nil {
			break
		}
		if item.redeliver {
			unsent = append(unsent, item)
		}
	}
	c.n.detach(c, unsent)
	c.waitMu.Lock()
	for id, ch := range c.waiters {
		close(ch)
		delete(c.waiters, id)
	}
	c.waitMu.Unlock()
}

// request sends a server-initiated IQ and waits for the client's answer.
func (c *serverConn) request(ctx context.Context, node waBinary.Node) (*waBinary.Node, error) {
	id := c.n.nextID()
	node.Attrs["id"] = id
	ch := make(chan *waBinary.Node, 1)
	c.waitMu.Lock()
	c.waiters[id] = ch
	c.waitMu.Unlock()
	c.send(node)
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, errors.New("connection closed before the client answered")
		}
		return resp, nil
	case <-ctx.Done():
		c.waitMu.Lock()
		delete(c.waiters, id)
		c.waitMu.Unlock()
		return nil, ctx.Err()
	}
}

// resolveWaiter hands an IQ response to request, reporting whether anyone waited for it.
func (c *serverConn) resolveWaiter(node *waBinary.Node) bool {
	id, _ := node.Attrs["id"].(string)
	c.waitMu.Lock()
	ch, ok := c.waiters[id]
	delete(c.waiters, id)
	c.waitMu.Unlock()
	if ok {
		ch <- node
	}
	return ok
}

func (c *serverConn) name() string {
	if !c.jid.IsEmpty() {
		return c.jid.String()
	}
	return "pre-login"
}

// detach forgets a closed connection: its QR refs, its device's connection slot, and puts its
// unsent messages back into the device's offline queue.
func (n *Network) detach(c *serverConn, unsent []outbound) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
	for ref, rc := range n.refs {
		if rc == c {
			delete(n.refs, ref)
		}
	}
	if c.jid.IsEmpty() {
		return
	}
	dev := n.companionLocked(c.jid)
	if dev == nil {
		return
	}
	if dev.conn == c {
		dev.conn = nil
	}
	n.requeueLocked(dev, unsent)
}

// requeueLocked puts unsent items back at the head of the device's offline queue. The caller
// holds Network.mu.
func (n *Network) requeueLocked(dev *device, items []outbound) {
	if len(items) == 0 {
		return
	}
	nodes := make([]waBinary.Node, 0, len(items)+len(dev.pending))
	for _, it := range items {
		nodes = append(nodes, *it.node)
	}
	dev.pending = append(nodes, dev.pending...)
	if dev.conn != nil {
		// A newer connection is already live: hand it over right away.
		for _, node := range dev.pending {
			dev.conn.sendMessage(node)
		}
		dev.pending = nil
	}
}
