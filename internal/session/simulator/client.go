package simulator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

type state int

const (
	offline state = iota
	waitingQR
	online
)

// client is one simulated linked device. Sink calls go through one queue so
// the manager sees them in the order they happened, and no lock is held
// while the sink writes to the database.
type client struct {
	p    *Provider
	ref  session.Ref
	sink session.EventSink

	ctx   context.Context // ends when the client closes
	queue *session.EventQueue

	mu     sync.Mutex
	state  state
	phone  string
	stopQR context.CancelFunc
	closed bool
}

var _ session.Client = (*client)(nil)

func newClient(p *Provider, ref session.Ref, sink session.EventSink) *client {
	q := session.NewEventQueue()
	return &client{p: p, ref: ref, sink: sink, ctx: q.Context(), queue: q}
}

// emit queues a sink call.
func (c *client) emit(fn func()) { c.queue.Emit(fn) }

// Connect implements session.Client: a paired device comes online at once
// (and receives what was queued for it); an unpaired one shows QR codes.
func (c *client) Connect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("simulator: client closed")
	}
	if c.state != offline {
		return nil
	}
	jid, paired, err := c.p.devices.Get(ctx, c.ref)
	if err != nil {
		return err
	}
	if paired {
		c.goOnlineLocked(wa.PhoneOf(jid))
		return nil
	}
	c.state = waitingQR
	qrCtx, stop := context.WithCancel(c.ctx)
	c.stopQR = stop
	go c.showQRs(qrCtx)
	return nil
}

// showQRs rotates QR codes like WhatsApp Web and ends the attempt with
// qr_timeout when none was scanned.
func (c *client) showQRs(ctx context.Context) {
	interval := c.p.cfg.QRInterval
	for i := 0; i < c.p.cfg.QRCount; i++ {
		code := fmt.Sprintf("2@wagate-simulator,%s,%d,%s", c.ref.SessionID, i+1, randomHex(12))
		expires := time.Now().Add(interval)
		c.emit(func() { c.sink.QR(code, expires) })
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil || c.state != waitingQR {
		return
	}
	c.state = offline
	c.stopQR = nil
	c.emit(func() { c.sink.Disconnected(session.ReasonQRTimeout, false) })
}

func (c *client) goOnlineLocked(phone string) {
	if c.stopQR != nil {
		c.stopQR()
		c.stopQR = nil
	}
	c.state = online
	c.phone = phone
	c.emit(func() { c.sink.Connected(phone) })
	c.emit(c.flushInbox)
}

// scan links the device to phone, as if the phone scanned the current QR.
func (c *client) scan(ctx context.Context, phone string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != waitingQR {
		return errNoQR
	}
	jid, err := wa.NormalizeJID(phone)
	if err != nil {
		return err
	}
	if err := c.p.devices.Put(ctx, c.ref, session.ProviderSimulator, jid); err != nil {
		return err
	}
	c.goOnlineLocked(wa.PhoneOf(jid))
	return nil
}

// drop simulates the connection dropping or the phone unlinking the device.
func (c *client) drop(ctx context.Context, reason session.DisconnectReason) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != online {
		return errNotOnline
	}
	if reason == session.ReasonLoggedOut {
		if err := c.p.devices.Delete(ctx, c.ref); err != nil {
			return err
		}
	}
	c.state = offline
	c.emit(func() { c.sink.Disconnected(reason, false) })
	return nil
}

// Disconnect implements session.Client.
func (c *client) Disconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopQR != nil {
		c.stopQR()
		c.stopQR = nil
	}
	c.state = offline
}

// Logout implements session.Client: the pairing is forgotten, so the next
// Connect shows a QR again.
func (c *client) Logout(ctx context.Context) error {
	c.Disconnect()
	return c.p.devices.Delete(ctx, c.ref)
}

// PairPhone implements session.Client. The simulator makes up a code; the
// phone then links with the scan control, as with a QR.
func (c *client) PairPhone(ctx context.Context, phone string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == online {
		return "", session.ErrAlreadyConnected
	}
	if _, err := wa.NormalizeJID(phone); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c.ref.SessionID + "|" + phone))
	const alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == 4 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(sum[i])%len(alphabet)])
	}
	return b.String(), nil
}

// Send implements session.Client: the message is "sent" at once, then
// delivered and read after ReceiptDelay each. The WhatsApp id derives from
// wagate's id, so a retried send has the same id.
func (c *client) Send(ctx context.Context, msg wa.OutgoingMessage) (wa.SendResult, error) {
	c.mu.Lock()
	online := c.state == online
	c.mu.Unlock()
	if !online {
		return wa.SendResult{}, session.ErrNotConnected
	}
	if _, err := wa.NormalizeJID(msg.ChatJID); err != nil {
		return wa.SendResult{}, err
	}
	seed := msg.ID
	if seed == "" {
		seed = randomHex(16)
	}
	sum := sha256.Sum256([]byte(c.ref.SessionID + "|" + seed))
	res := wa.SendResult{MessageID: "SIM" + strings.ToUpper(hex.EncodeToString(sum[:8])), Timestamp: time.Now().UTC()}
	go c.receipts(msg.ChatJID, res.MessageID)
	return res, nil
}

func (c *client) receipts(chat, id string) {
	for _, typ := range []wa.ReceiptType{wa.ReceiptDelivered, wa.ReceiptRead} {
		t := time.NewTimer(c.p.cfg.ReceiptDelay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r := wa.Receipt{ChatJID: chat, MessageIDs: []string{id}, Type: typ, Timestamp: time.Now().UTC()}
		c.emit(func() { c.sink.Receipt(r) })
	}
}

// MarkRead implements session.Client.
func (c *client) MarkRead(ctx context.Context, chatJID string, messageIDs []string) error {
	if !c.IsConnected() {
		return session.ErrNotConnected
	}
	return nil
}

// errNoMedia: simulated contacts send text only.
var errNoMedia = apperr.Unprocessable("media-unavailable", "the simulator has no media to download")

// DownloadMedia implements session.Client.
func (c *client) DownloadMedia(ctx context.Context, m wa.Message) ([]byte, error) {
	if !c.IsConnected() {
		return nil, session.ErrNotConnected
	}
	return nil, errNoMedia
}

// IsConnected implements session.Client.
func (c *client) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == online
}

// Close implements session.Client.
func (c *client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.stopQR != nil {
		c.stopQR()
		c.stopQR = nil
	}
	c.state = offline
	c.mu.Unlock()
	c.p.forget(c)
	c.queue.Close()
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
