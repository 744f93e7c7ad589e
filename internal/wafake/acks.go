package wafake

import (
	"context"
	"sync"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// ackTracker remembers the messages, receipts and notifications written to a client that it has
// not acknowledged yet (with a receipt for a message, an ack otherwise, or a nack).
type ackTracker struct {
	mu      sync.Mutex
	pending map[string]struct{}
	changed chan struct{} // closed and replaced on every change
}

func newAckTracker() *ackTracker {
	return &ackTracker{pending: make(map[string]struct{}), changed: make(chan struct{})}
}

func ackKey(class, id string) string { return class + "/" + id }

func (a *ackTracker) update(fn func(map[string]struct{})) {
	a.mu.Lock()
	fn(a.pending)
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// sent records a node about to be written.
func (a *ackTracker) sent(node *waBinary.Node) {
	if id, ok := node.Attrs["id"].(string); ok && (node.Tag == "message" || node.Tag == "receipt" || node.Tag == "notification") {
		a.update(func(p map[string]struct{}) { p[ackKey(node.Tag, id)] = struct{}{} })
	}
}

// received clears what a node from the client acknowledges.
func (a *ackTracker) received(node *waBinary.Node) {
	ag := node.AttrGetter()
	switch node.Tag {
	case "receipt":
		ids := []string{ag.OptionalString("id")}
		list := node.GetChildByTag("list")
		for _, item := range list.GetChildrenByTag("item") {
			ids = append(ids, item.AttrGetter().OptionalString("id"))
		}
		a.update(func(p map[string]struct{}) {
			for _, id := range ids {
				delete(p, ackKey("message", id))
			}
		})
	case "ack":
		key := ackKey(ag.OptionalString("class"), ag.OptionalString("id"))
		a.update(func(p map[string]struct{}) { delete(p, key) })
	}
}

// wait blocks until nothing is pending, ctx ends or done closes.
func (a *ackTracker) wait(ctx context.Context, done <-chan struct{}) error {
	for {
		a.mu.Lock()
		empty, changed := len(a.pending) == 0, a.changed
		a.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-changed:
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitAcked waits until the device's current connection has acknowledged every message, receipt
// and notification the fake wrote to it. It returns nil at once if the device is not connected.
//
// Call it before disconnecting a client at the end of a test: whatsmeow writes acks and receipts
// from background goroutines, and a Disconnect racing such a write trips the race detector inside
// whatsmeow (FrameSocket.SendFrame reads its connection without the lock Close holds).
func (n *Network) WaitAcked(ctx context.Context, deviceJID types.JID) error {
	n.mu.Lock()
	var conn *serverConn
	if dev := n.companionLocked(deviceJID); dev != nil {
		conn = dev.conn
	}
	n.mu.Unlock()
	if conn == nil {
		return nil
	}
	return conn.acks.wait(ctx, conn.ctx.Done())
}
