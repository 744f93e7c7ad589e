package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/wa"
)

type state int

const (
	offline state = iota
	checking
	online
)

// inboxBatch bounds the payloads one flush hands to the sink.
const inboxBatch = 100

// client is one cloud session. There is no connection to keep: "connected"
// means the Graph API accepted the session's token for its number. Sink
// calls go through one queue, so the manager sees them in order and no lock
// is held while the sink writes to the database.
type client struct {
	p    *Provider
	ref  session.Ref
	sink session.EventSink

	ctx   context.Context // ends when the client closes
	queue *session.EventQueue

	mu        sync.Mutex
	state     state
	creds     credentials
	stopCheck context.CancelFunc
	closed    bool
}

var _ session.Client = (*client)(nil)

func newClient(p *Provider, ref session.Ref, sink session.EventSink) *client {
	q := session.NewEventQueue()
	return &client{p: p, ref: ref, sink: sink, ctx: q.Context(), queue: q}
}

// emit queues a sink call (or inbox flush) on the client's loop.
func (c *client) emit(fn func()) { c.queue.Emit(fn) }

// Connect implements session.Client: it loads the credentials and checks
// them with GET /{phone-number-id} in the background. Success reports the
// number as connected; a refused token or unknown number ends the session
// as logged_out (a person must fix the credentials); network trouble and
// Meta's own errors are reported as connection_lost, so the manager retries.
func (c *client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("cloud: client closed")
	}
	if c.state != offline {
		c.mu.Unlock()
		return nil
	}
	creds, err := c.p.store.credentials(ctx, c.ref)
	if err != nil {
		c.mu.Unlock()
		if errors.Is(err, errNoCredentials) || errors.Is(err, errUnsealable) || errors.Is(err, ErrSecretKeyRequired) {
			c.p.log.Error("cloud session cannot use its credentials", "session", c.ref.SessionID, "error", err)
			c.emit(func() { c.sink.Disconnected(session.ReasonLoggedOut, false) })
			return nil
		}
		return err
	}
	c.creds = creds
	c.state = checking
	checkCtx, stop := context.WithTimeout(c.ctx, c.p.cfg.CheckTimeout)
	c.stopCheck = stop
	c.mu.Unlock()
	go c.check(checkCtx, creds)
	return nil
}

// check verifies the credentials and reports the outcome. Sink calls are
// queued after the lock is released: the loop may need it.
func (c *client) check(ctx context.Context, creds credentials) {
	info, err := c.p.graph.phoneNumber(ctx, creds)
	c.mu.Lock()
	if c.state != checking || c.closed {
		c.mu.Unlock()
		return // disconnected meanwhile
	}
	c.stopCheck()
	c.stopCheck = nil
	var ge *GraphError
	switch {
	case err == nil:
		c.state = online
		c.mu.Unlock()
		phone := ""
		if jid, err := wa.NormalizeJID(info.DisplayPhoneNumber); err == nil {
			phone = wa.PhoneOf(jid)
		}
		c.p.log.Info("cloud number verified", "session", c.ref.SessionID, "verifiedName", info.VerifiedName)
		c.emit(func() { c.sink.Connected(phone) })
		c.emit(c.flushInbox)
	case errors.As(err, &ge) && !ge.Retryable():
		c.state = offline
		c.mu.Unlock()
		c.p.log.Warn("Graph API refused the cloud session's credentials", "session", c.ref.SessionID, "error", err)
		c.emit(func() { c.sink.Disconnected(session.ReasonLoggedOut, false) })
	default:
		c.state = offline
		c.mu.Unlock()
		c.p.log.Warn("cloud credentials check failed; will retry", "session", c.ref.SessionID, "error", err)
		c.emit(func() { c.sink.Disconnected(session.ReasonConnectionLost, false) })
	}
}

// reconnect checks the credentials again (they changed); a client that is
// not connecting or connected is left to the manager.
func (c *client) reconnect(ctx context.Context) error {
	c.mu.Lock()
	running := c.state != offline && !c.closed
	c.disconnectLocked()
	c.mu.Unlock()
	if !running {
		return nil
	}
	return c.Connect(ctx)
}

// Disconnect implements session.Client.
func (c *client) Disconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disconnectLocked()
}

func (c *client) disconnectLocked() {
	if c.stopCheck != nil {
		c.stopCheck()
		c.stopCheck = nil
	}
	c.state = offline
}

// Logout implements session.Client. A Cloud API number is not linked to
// wagate, so there is nothing to unlink: the credentials stay until the
// session is deleted.
func (c *client) Logout(ctx context.Context) error {
	c.Disconnect()
	return nil
}

// PairPhone implements session.Client: cloud numbers are not linked by code.
func (c *client) PairPhone(ctx context.Context, phone string) (string, error) {
	return "", session.ErrProviderUnsupported
}

// online returns the credentials of a connected client.
func (c *client) online() (credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != online {
		return credentials{}, session.ErrNotConnected
	}
	return c.creds, nil
}

// authLost ends the session when Meta refuses its token mid-use.
func (c *client) authLost(err error) {
	var ge *GraphError
	if !errors.As(err, &ge) || !ge.authFailed() {
		return
	}
	c.mu.Lock()
	if c.state != online {
		c.mu.Unlock()
		return
	}
	c.disconnectLocked()
	c.mu.Unlock()
	c.p.log.Warn("Graph API refused the cloud session's token", "session", c.ref.SessionID, "error", err)
	c.emit(func() { c.sink.Disconnected(session.ReasonLoggedOut, false) })
}

// Send implements session.Client: media without a URL is uploaded first
// and sent by its media id; media with a URL is sent by link (Meta fetches
// it). Graph errors come back as *GraphError, which tells the messaging
// worker the message.failed reason.
func (c *client) Send(ctx context.Context, msg wa.OutgoingMessage) (wa.SendResult, error) {
	creds, err := c.online()
	if err != nil {
		return wa.SendResult{}, err
	}
	if _, err := recipient(msg.ChatJID); err != nil {
		return wa.SendResult{}, err
	}
	var mediaID string
	if isMedia(msg.Type) && msg.Content.URL == "" {
		if len(msg.Media) == 0 {
			return wa.SendResult{}, &sendFailure{reason: ReasonMediaUnavailable, msg: "media message without bytes or URL"}
		}
		mediaID, err = c.p.graph.upload(ctx, creds, msg.Content.Mimetype, msg.Content.Filename, msg.Media)
		if err != nil {
			c.authLost(err)
			return wa.SendResult{}, fmt.Errorf("upload media: %w", err)
		}
	}
	body, err := buildMessage(msg, mediaID)
	if err != nil {
		return wa.SendResult{}, err
	}
	id, err := c.p.graph.send(ctx, creds, body)
	if err != nil {
		c.authLost(err)
		return wa.SendResult{}, err
	}
	return wa.SendResult{MessageID: id, Timestamp: time.Now().UTC()}, nil
}

func isMedia(t wa.MessageType) bool {
	switch t {
	case wa.TypeImage, wa.TypeVideo, wa.TypeAudio, wa.TypeDocument, wa.TypeSticker:
		return true
	}
	return false
}

// MarkRead implements session.Client: each message is marked read.
func (c *client) MarkRead(ctx context.Context, chatJID string, messageIDs []string) error {
	creds, err := c.online()
	if err != nil {
		return err
	}
	for _, id := range messageIDs {
		if err := c.p.graph.markRead(ctx, creds, id); err != nil {
			c.authLost(err)
			return fmt.Errorf("mark %s read: %w", id, err)
		}
	}
	return nil
}

// DownloadMedia implements session.Client.
func (c *client) DownloadMedia(ctx context.Context, m wa.Message) ([]byte, error) {
	creds, err := c.online()
	if err != nil {
		return nil, err
	}
	mediaID := m.Content.MediaKey
	if mediaID == "" {
		if mediaID, err = c.p.store.mediaID(ctx, c.ref, m.MessageID); err != nil {
			return nil, err
		}
	}
	b, err := c.p.graph.download(ctx, creds, mediaID, c.p.cfg.MaxMediaBytes)
	if err != nil {
		c.authLost(err)
		return nil, err
	}
	return b, nil
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
	c.disconnectLocked()
	c.mu.Unlock()
	c.p.forget(c)
	c.queue.Close()
	return nil
}

// flushInbox hands the session's queued webhook payloads to the sink, oldest
// first, and removes them. It runs on the client's loop, so it never races
// with itself; while the client is not connected payloads stay queued.
func (c *client) flushInbox() {
	if !c.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	items, err := c.p.store.inbox(ctx, c.ref, inboxBatch)
	if err != nil {
		c.p.log.Error("read cloud inbox", "session", c.ref.SessionID, "error", err)
		return
	}
	if len(items) == 0 {
		return
	}
	for _, it := range items {
		tr := translate(it.value)
		if err := c.p.store.saveMediaIDs(ctx, c.ref, tr.mediaIDs); err != nil {
			c.p.log.Error("remember inbound media", "session", c.ref.SessionID, "error", err)
			return // retried on the next flush
		}
		if len(tr.messages) > 0 {
			c.sink.Messages(tr.messages, true)
		}
		for _, r := range tr.receipts {
			c.sink.Receipt(r)
		}
		for _, e := range it.value.Errors {
			c.p.log.Warn("Cloud API reported an error", "session", c.ref.SessionID, "error", e.text())
		}
		if tr.skipped > 0 {
			c.p.log.Debug("webhook items wagate does not represent", "session", c.ref.SessionID, "count", tr.skipped)
		}
	}
	if err := c.p.store.dropInbox(ctx, c.ref, items[len(items)-1].seq); err != nil {
		c.p.log.Error("clear cloud inbox", "session", c.ref.SessionID, "error", err)
		return
	}
	if len(items) == inboxBatch {
		c.emit(c.flushInbox)
	}
}
