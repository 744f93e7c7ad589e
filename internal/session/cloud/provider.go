package cloud

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/session"
)

// SubscriptionName is the worker's consumer group for cloud commands.
const SubscriptionName = "session.cloud"

// Config configures the cloud provider.
type Config struct {
	// BaseURL is the Graph API host (WAGATE_CLOUD_API_BASE_URL, default
	// https://graph.facebook.com); APIVersion is appended.
	BaseURL string
	// HTTPClient makes the Graph calls (default: 60s timeout).
	HTTPClient *http.Client
	// CheckTimeout bounds the call that checks a session's token when it
	// connects (default 30s).
	CheckTimeout time.Duration
	// MaxMediaBytes bounds an inbound media download (default 16 MiB).
	MaxMediaBytes int64
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.MaxMediaBytes <= 0 {
		c.MaxMediaBytes = 16 << 20
	}
}

// Provider is the cloud provider. It keeps the clients it opened so webhook
// payloads reach the running session.
type Provider struct {
	cfg   Config
	store *Store
	graph *graph
	log   *slog.Logger

	mu      sync.Mutex
	clients map[string]*client
}

var _ session.Provider = (*Provider)(nil)

// New returns the cloud provider over the store of credentials.
func New(cfg Config, st *Store, logger *slog.Logger) *Provider {
	cfg.setDefaults()
	return &Provider{
		cfg: cfg, store: st, graph: newGraph(cfg.BaseURL, cfg.HTTPClient),
		log: logger.With("component", "cloud"), clients: map[string]*client{},
	}
}

// Name implements session.Provider.
func (p *Provider) Name() string { return session.ProviderCloud }

// Open implements session.Provider. Credentials are read when the client
// connects, so changed credentials take effect on the next connection.
func (p *Provider) Open(ctx context.Context, ref session.Ref, sink session.EventSink) (session.Client, error) {
	c := newClient(p, ref, sink)
	p.mu.Lock()
	p.clients[ref.SessionID] = c
	p.mu.Unlock()
	return c, nil
}

func (p *Provider) client(ref session.Ref) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[ref.SessionID]
	if c == nil || c.ref.TenantID != ref.TenantID {
		return nil
	}
	return c
}

func (p *Provider) forget(c *client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[c.ref.SessionID] == c {
		delete(p.clients, c.ref.SessionID)
	}
}

// Subscription consumes the provider's commands on the worker; wrap it with
// session.Manager.Routed so payloads reach the worker running the session.
func (p *Provider) Subscription() eventlog.Subscription {
	return eventlog.Subscription{
		Name:    SubscriptionName,
		Stream:  eventlog.SessionCommands,
		Types:   []string{CommandWebhook, CommandCredentialsChanged, session.CommandDelete},
		Handler: p.HandleCommand,
	}
}

// HandleCommand executes one command: a webhook payload goes to the
// session's inbox (once, however often the command is delivered) and, when
// the session runs here, on to its client; a running session reconnects
// with changed credentials; a deleted session's credentials and queued
// payloads are removed.
func (p *Provider) HandleCommand(ctx context.Context, env eventlog.Envelope) error {
	ref := session.Ref{TenantID: env.TenantID, SessionID: env.SessionID}
	switch env.Type {
	case session.CommandDelete:
		return p.store.Purge(ctx, ref)
	case CommandWebhook:
		var cmd WebhookCommand
		var v changeValue
		if err := env.Decode(&cmd); err != nil || json.Unmarshal(cmd.Value, &v) != nil {
			p.log.Warn("drop malformed webhook command", "id", env.ID, "session", env.SessionID)
			return nil
		}
		if err := p.store.enqueue(ctx, SubscriptionName, env, cmd.Value); err != nil {
			return err
		}
		if c := p.client(ref); c != nil {
			c.emit(c.flushInbox)
		}
	case CommandCredentialsChanged:
		if c := p.client(ref); c != nil {
			return c.reconnect(ctx)
		}
	}
	return nil
}
