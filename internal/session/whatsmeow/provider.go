// Package whatsmeow is the session provider over go.mau.fi/whatsmeow, the
// WhatsApp Web multi-device client. Device keys live in the same database
// as everything else (whatsmeow's SQL store, tables whatsmeow_*); the
// session_devices table maps each session to its device JID.
package whatsmeow

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store/sqlstore"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/store"
)

// Config configures the provider.
type Config struct {
	// WebsocketHTTPClient, PreLoginHTTPClient and MediaHTTPClient replace
	// whatsmeow's HTTP clients (websocket after login, websocket before
	// login, media up/downloads). Tests point them at a fake network; nil
	// keeps whatsmeow's defaults.
	WebsocketHTTPClient, PreLoginHTTPClient, MediaHTTPClient *http.Client
	// QRFirstTimeout is how long the first QR code is valid (default 60s),
	// QRTimeout each later one (default 20s), as in WhatsApp Web.
	QRFirstTimeout, QRTimeout time.Duration
	// PairWait bounds how long PairPhone waits for the login websocket
	// before asking for a code (default 20s).
	PairWait time.Duration
	// PairClientName is the device name shown on the phone for pairing
	// codes; WhatsApp accepts only "Browser (OS)" names (default "Chrome (Linux)").
	PairClientName string
	// ConfigureClient, if set, is applied to every new whatsmeow client
	// after the HTTP clients above, before it connects. Tests and
	// benchmarks point clients at a fake WhatsApp network with it
	// (wafake.Network.Configure); production leaves it nil.
	ConfigureClient func(*wm.Client)
}

func (c *Config) setDefaults() {
	if c.QRFirstTimeout <= 0 {
		c.QRFirstTimeout = 60 * time.Second
	}
	if c.QRTimeout <= 0 {
		c.QRTimeout = 20 * time.Second
	}
	if c.PairWait <= 0 {
		c.PairWait = 20 * time.Second
	}
	if c.PairClientName == "" {
		c.PairClientName = "Chrome (Linux)"
	}
}

// Provider opens whatsmeow clients for sessions.
type Provider struct {
	cfg       Config
	container *sqlstore.Container
	devices   *session.DeviceStore
	log       *slog.Logger
}

var _ session.Provider = (*Provider)(nil)

// New builds the provider over db and brings whatsmeow's tables up to date.
func New(ctx context.Context, cfg Config, db *store.DB, logger *slog.Logger) (*Provider, error) {
	cfg.setDefaults()
	log := logger.With("component", "whatsmeow")
	dialect := "sqlite3"
	if db.Dialect == store.Postgres {
		dialect = "postgres"
	}
	container := sqlstore.NewWithDB(db.SQL, dialect, slogLogger{l: log.With("module", "store")})
	if err := container.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("upgrade whatsmeow device store: %w", err)
	}
	return &Provider{cfg: cfg, container: container, devices: session.NewDeviceStore(db), log: log}, nil
}

// Name implements session.Provider.
func (p *Provider) Name() string { return session.ProviderWhatsmeow }

// Open implements session.Provider: the session's device when it has one,
// else a fresh device that will show QR codes.
func (p *Provider) Open(ctx context.Context, ref session.Ref, sink session.EventSink) (session.Client, error) {
	dev, err := p.device(ctx, ref)
	if err != nil {
		return nil, err
	}
	return newClient(p, ref, sink, dev), nil
}
