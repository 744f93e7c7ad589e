// Package simulator is a fake phone behind the session provider port, for
// development, demos and tests (enabled only with WAGATE_SIMULATOR=true). It
// behaves like whatsmeow where the manager can see it: rotating QR codes
// that time out, a pairing kept in the database so a restart reconnects
// without a QR, sends reported sent → delivered → read, inbound messages
// queued while disconnected and delivered on reconnect, and chunked history
// syncs. Control endpoints (scan, inbound, history, disconnect) reach it
// through the session-commands stream, so they work when the worker is
// another process.
package simulator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
)

// Config configures the simulator.
type Config struct {
	// QRInterval is how long each QR code is valid (default 20s).
	QRInterval time.Duration
	// QRCount is how many codes are shown before the session ends with
	// qr_timeout (default 6, like WhatsApp Web).
	QRCount int
	// ReceiptDelay separates a send from its delivered receipt and that
	// from its read receipt (default 300ms).
	ReceiptDelay time.Duration
}

func (c *Config) setDefaults() {
	if c.QRInterval <= 0 {
		c.QRInterval = 20 * time.Second
	}
	if c.QRCount <= 0 {
		c.QRCount = 6
	}
	if c.ReceiptDelay <= 0 {
		c.ReceiptDelay = 300 * time.Millisecond
	}
}

// Provider is the simulator provider. It keeps the clients it opened so the
// control commands can act on them.
type Provider struct {
	cfg     Config
	db      *store.DB
	devices *session.DeviceStore
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]*client
}

var _ session.Provider = (*Provider)(nil)

// New returns the simulator provider over db (pairings and queued inbound
// messages live there).
func New(cfg Config, db *store.DB, logger *slog.Logger) *Provider {
	cfg.setDefaults()
	return &Provider{
		cfg: cfg, db: db, devices: session.NewDeviceStore(db),
		log: logger.With("component", "simulator"), clients: map[string]*client{},
	}
}

// Name implements session.Provider.
func (p *Provider) Name() string { return session.ProviderSimulator }

// Open implements session.Provider.
func (p *Provider) Open(ctx context.Context, ref session.Ref, sink session.EventSink) (session.Client, error) {
	c := newClient(p, ref, sink)
	p.mu.Lock()
	p.clients[ref.SessionID] = c
	p.mu.Unlock()
	return c, nil
}

// errNotRunning: the session has no open client on this worker.
var errNotRunning = errors.New("simulator: session is not running on this worker")

func (p *Provider) client(ref session.Ref) (*client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[ref.SessionID]
	if c == nil || c.ref.TenantID != ref.TenantID {
		return nil, errNotRunning
	}
	return c, nil
}

func (p *Provider) forget(c *client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[c.ref.SessionID] == c {
		delete(p.clients, c.ref.SessionID)
	}
}
