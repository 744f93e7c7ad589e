package whatsmeow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	wm "go.mau.fi/whatsmeow"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

// device returns the session's stored device, or a new one when the
// session was never linked (or its device is gone).
func (p *Provider) device(ctx context.Context, ref session.Ref) (*wmstore.Device, error) {
	jidStr, ok, err := p.devices.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if ok {
		jid, err := types.ParseJID(jidStr)
		if err == nil {
			dev, err := p.container.GetDevice(ctx, jid)
			if err != nil {
				return nil, fmt.Errorf("load whatsmeow device of session %s: %w", ref.SessionID, err)
			}
			if dev != nil {
				return dev, nil
			}
		}
		// The mapping outlived its device (deleted by a remote logout).
		if err := p.devices.Delete(ctx, ref); err != nil {
			return nil, err
		}
	}
	return p.container.NewDevice(), nil
}

// client is one session's whatsmeow client.
type client struct {
	p    *Provider
	ref  session.Ref
	sink session.EventSink
	cli  *wm.Client

	handlerID uint32

	mu      sync.Mutex
	qrStop  context.CancelFunc
	qrReady chan struct{} // closed when the current login socket shows its first QR
	closed  bool
}

var _ session.Client = (*client)(nil)

func newClient(p *Provider, ref session.Ref, sink session.EventSink, dev *wmstore.Device) *client {
	cli := wm.NewClient(dev, slogLogger{l: p.log.With("session", ref.SessionID)})
	// The session manager reconnects with its own backoff and knows why.
	cli.EnableAutoReconnect = false
	if p.cfg.WebsocketHTTPClient != nil {
		cli.SetWebsocketHTTPClient(p.cfg.WebsocketHTTPClient)
	}
	if p.cfg.PreLoginHTTPClient != nil {
		cli.SetPreLoginHTTPClient(p.cfg.PreLoginHTTPClient)
	}
	if p.cfg.MediaHTTPClient != nil {
		cli.SetMediaHTTPClient(p.cfg.MediaHTTPClient)
	}
	if p.cfg.ConfigureClient != nil {
		p.cfg.ConfigureClient(cli)
	}
	c := &client{p: p, ref: ref, sink: sink, cli: cli, qrReady: make(chan struct{})}
	c.handlerID = cli.AddEventHandler(c.handle)
	return c
}

// Connect implements session.Client.
func (c *client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("whatsmeow: client closed")
	}
	c.stopQRLocked()
	c.qrReady = make(chan struct{})
	c.mu.Unlock()
	err := c.cli.ConnectContext(ctx)
	if errors.Is(err, wm.ErrAlreadyConnected) {
		return nil
	}
	return err
}

// handle receives every whatsmeow event of this client.
func (c *client) handle(evt any) {
	switch evt.(type) {
	case *events.KeepAliveTimeout, *events.KeepAliveRestored:
		if !c.cli.IsLoggedIn() {
			// whatsmeow pings on the login socket too, before any pairing:
			// a late ping there says nothing about a session that shows QR
			// codes, and must neither stop them nor mark it connected.
			return
		}
	}
	switch v := evt.(type) {
	case *events.QR:
		c.showQRs(v.Codes)
	case *events.PairSuccess:
		c.stopQR()
		if err := c.p.devices.Put(context.Background(), c.ref, session.ProviderWhatsmeow, v.ID.String()); err != nil {
			c.p.log.Error("store paired device", "session", c.ref.SessionID, "error", err)
		}
	case *events.Connected, *events.KeepAliveRestored:
		c.stopQR()
		c.sink.Connected(c.phone())
	case *events.Message:
		if m, kind := translateMessage(v); kind != skipMessage {
			c.sink.Messages([]wa.Message{m}, kind == newMessage)
		}
	case *events.Receipt:
		if r, ok := translateReceipt(v); ok {
			c.sink.Receipt(r)
		}
	case *events.HistorySync:
		chunks := session.ChunkHistory(translateHistory(v.Data, c.cli.ParseWebMessage), session.MaxHistoryChunk)
		for i, ch := range chunks {
			c.sink.HistorySync(ch, i == len(chunks)-1)
		}
	default:
		reason, willReconnect, ok := connectionChange(evt)
		if !ok {
			return
		}
		c.stopQR()
		if reason == session.ReasonLoggedOut || reason == session.ReasonBanned && isLogout(evt) {
			// whatsmeow already deleted the device's keys.
			if err := c.p.devices.Delete(context.Background(), c.ref); err != nil {
				c.p.log.Error("forget logged-out device", "session", c.ref.SessionID, "error", err)
			}
		}
		c.sink.Disconnected(reason, willReconnect)
	}
}

func isLogout(evt any) bool {
	_, ok := evt.(*events.LoggedOut)
	return ok
}

// phone is the linked number in E.164.
func (c *client) phone() string {
	if id := c.cli.Store.ID; id != nil {
		return wa.PhoneOf(id.ToNonAD().String())
	}
	return ""
}

// showQRs rotates the login codes (the first valid QRFirstTimeout, the
// others QRTimeout) and, when none was scanned, closes the login socket and
// reports qr_timeout.
func (c *client) showQRs(codes []string) {
	c.mu.Lock()
	c.stopQRLocked()
	ctx, stop := context.WithCancel(context.Background())
	c.qrStop = stop
	ready := c.qrReady
	c.mu.Unlock()
	go func() {
		for i, code := range codes {
			d := c.p.cfg.QRTimeout
			if i == 0 {
				d = c.p.cfg.QRFirstTimeout
			}
			// Emitting under the lock orders it before a concurrent stopQR,
			// so a QR can never land after "connected".
			c.mu.Lock()
			if ctx.Err() != nil {
				c.mu.Unlock()
				return
			}
			c.sink.QR(code, time.Now().Add(d))
			if i == 0 {
				select {
				case <-ready:
				default:
					close(ready)
				}
			}
			c.mu.Unlock()
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		c.mu.Lock()
		if ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		c.qrStop = nil
		c.mu.Unlock()
		c.cli.Disconnect()
		c.sink.Disconnected(session.ReasonQRTimeout, false)
	}()
}

func (c *client) stopQR() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopQRLocked()
}

func (c *client) stopQRLocked() {
	if c.qrStop != nil {
		c.qrStop()
		c.qrStop = nil
	}
}

// Disconnect implements session.Client.
func (c *client) Disconnect() {
	c.stopQR()
	c.cli.Disconnect()
}

// Logout implements session.Client: unlinks the device on the phone when
// online; otherwise forgets it locally (the phone then still lists it under
// Linked devices until removed there).
func (c *client) Logout(ctx context.Context) error {
	c.stopQR()
	if c.cli.IsLoggedIn() {
		err := c.cli.Logout(ctx)
		if err == nil {
			return c.p.devices.Delete(ctx, c.ref)
		}
		c.p.log.Warn("remote logout failed; forgetting the device locally", "session", c.ref.SessionID, "error", err)
	}
	c.cli.Disconnect()
	if c.cli.Store.ID != nil {
		if err := c.cli.Store.Delete(ctx); err != nil {
			return fmt.Errorf("delete whatsmeow device: %w", err)
		}
	}
	return c.p.devices.Delete(ctx, c.ref)
}

// PairPhone implements session.Client. It waits for the login socket (its
// first QR) and asks WhatsApp for a code for phone.
func (c *client) PairPhone(ctx context.Context, phone string) (string, error) {
	if c.cli.Store.ID != nil {
		return "", session.ErrAlreadyConnected
	}
	c.mu.Lock()
	ready := c.qrReady
	c.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, c.p.cfg.PairWait)
	defer cancel()
	select {
	case <-ready:
	case <-wait.Done():
		return "", fmt.Errorf("whatsmeow: login socket not ready for pairing: %w", wait.Err())
	}
	jid, err := wa.NormalizeJID(phone)
	if err != nil {
		return "", err
	}
	digits := strings.TrimPrefix(wa.PhoneOf(jid), "+")
	code, err := c.cli.PairPhone(ctx, digits, true, wm.PairClientChrome, c.p.cfg.PairClientName)
	if err != nil {
		return "", fmt.Errorf("whatsmeow pair phone: %w", err)
	}
	return code, nil
}

// Send implements session.Client.
func (c *client) Send(ctx context.Context, msg wa.OutgoingMessage) (wa.SendResult, error) {
	if !c.cli.IsLoggedIn() {
		return wa.SendResult{}, session.ErrNotConnected
	}
	to, err := types.ParseJID(msg.ChatJID)
	if err != nil || to.IsEmpty() {
		return wa.SendResult{}, wa.ErrInvalidRecipient
	}
	payload, err := buildMessage(ctx, msg, c.cli.Upload)
	if err != nil {
		return wa.SendResult{}, err
	}
	resp, err := c.cli.SendMessage(ctx, to, payload, wm.SendRequestExtra{ID: messageIDFor(msg.ID)})
	if err != nil {
		return wa.SendResult{}, fmt.Errorf("whatsmeow send: %w", err)
	}
	return wa.SendResult{MessageID: resp.ID, Timestamp: resp.Timestamp.UTC()}, nil
}

// MarkRead implements session.Client.
func (c *client) MarkRead(ctx context.Context, chatJID string, messageIDs []string) error {
	if !c.cli.IsLoggedIn() {
		return session.ErrNotConnected
	}
	chat, err := types.ParseJID(chatJID)
	if err != nil {
		return wa.ErrInvalidRecipient
	}
	ids := make([]types.MessageID, len(messageIDs))
	copy(ids, messageIDs)
	if err := c.cli.MarkRead(ctx, ids, time.Now(), chat, types.EmptyJID); err != nil {
		return fmt.Errorf("whatsmeow mark read: %w", err)
	}
	return nil
}

// errNoMedia: the message carries no downloadable media.
var errNoMedia = apperr.Unprocessable("media-unavailable", "the message has no downloadable media")

// DownloadMedia implements session.Client.
func (c *client) DownloadMedia(ctx context.Context, m wa.Message) ([]byte, error) {
	if !c.cli.IsLoggedIn() {
		return nil, session.ErrNotConnected
	}
	var ref mediaRef
	if m.Content.MediaKey == "" || json.Unmarshal([]byte(m.Content.MediaKey), &ref) != nil || ref.DirectPath == "" {
		return nil, errNoMedia
	}
	mt, ok := mediaTypes[ref.Kind]
	if !ok {
		return nil, errNoMedia
	}
	data, err := c.cli.DownloadMediaWithPath(ctx, ref.DirectPath, ref.FileEncSHA256, ref.FileSHA256, ref.MediaKey, int(ref.FileLength), mt, "")
	if err != nil {
		return nil, fmt.Errorf("whatsmeow download: %w", err)
	}
	return data, nil
}

var mediaTypes = map[string]wm.MediaType{
	"image": wm.MediaImage, "video": wm.MediaVideo, "audio": wm.MediaAudio,
	"document": wm.MediaDocument, "sticker": wm.MediaImage,
}

// IsConnected implements session.Client.
func (c *client) IsConnected() bool { return c.cli.IsConnected() && c.cli.IsLoggedIn() }

// Close implements session.Client.
func (c *client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.stopQRLocked()
	c.mu.Unlock()
	c.cli.RemoveEventHandler(c.handlerID)
	c.cli.Disconnect()
	return nil
}
