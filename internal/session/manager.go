package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/eventlog"
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Store is where sessions live; required.
	Store *Store
	// Providers are the enabled providers; a session whose provider is not
	// here ends disconnected/provider_unavailable.
	Providers []Provider
	// WorkerID identifies this worker in leases; default host-pid-random.
	WorkerID string
	// LeaseTTL is how long a lease outlives its last renewal (default 30s):
	// after a crash, other workers wait this long before taking over.
	LeaseTTL time.Duration
	// ReconcileInterval is how often leases are renewed and the database is
	// compared with what runs here (default LeaseTTL/3).
	ReconcileInterval time.Duration
	// ReconnectMin and ReconnectMax bound the exponential reconnect backoff
	// (defaults 1s and 2m); each delay is jittered.
	ReconnectMin, ReconnectMax time.Duration
	// MailboxInterval is how often the worker runs commands other workers
	// forwarded to it (default 500ms).
	MailboxInterval time.Duration
	// PairCodeTimeout bounds how long the worker waits for a provider's
	// pairing code (default 30s).
	PairCodeTimeout time.Duration
	// Registerer receives the manager's metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (c *ManagerConfig) setDefaults() {
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.WorkerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = c.LeaseTTL / 3
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = time.Second
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(2*time.Minute, c.ReconnectMin)
	}
	if c.MailboxInterval <= 0 {
		c.MailboxInterval = 500 * time.Millisecond
	}
	if c.PairCodeTimeout <= 0 {
		c.PairCodeTimeout = 30 * time.Second
	}
}

func (c *ManagerConfig) validate() error {
	if c.Store == nil {
		return errors.New("session manager: Store is required")
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if p == nil || p.Name() == "" || seen[p.Name()] {
			return fmt.Errorf("session manager: nil, unnamed or duplicate provider")
		}
		seen[p.Name()] = true
	}
	return nil
}

// restoreParallelism is how many sessions a worker opens and connects at
// once when it restores sessions.
const restoreParallelism = 16

// Manager is the session worker: it runs one provider client per session it
// owns, executes the commands of the session-commands stream, turns provider
// events into domain events through the outbox, reconnects lost sessions
// with backoff and restores sessions on start.
type Manager struct {
	cfg       ManagerConfig
	log       *slog.Logger
	store     *Store
	leases    *leases
	pairs     *pairRequests
	providers map[string]Provider

	// ctx lives as long as the manager; clients and sink writes use it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*runner
	locks   map[string]*sync.Mutex
	routes  map[string]eventlog.Handler // subscriber name → handler, for forwarded commands

	reconnects prometheus.Counter
}

// NewManager builds a manager; it runs sessions once Run is called (and
// executes commands handed to HandleCommand at any time).
func NewManager(cfg ManagerConfig, logger *slog.Logger) (*Manager, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:       cfg,
		log:       logger.With("component", "session-manager", "worker", cfg.WorkerID),
		store:     cfg.Store,
		leases:    &leases{db: cfg.Store.DB(), owner: cfg.WorkerID, ttl: cfg.LeaseTTL},
		pairs:     &pairRequests{db: cfg.Store.DB()},
		providers: map[string]Provider{},
		ctx:       ctx,
		cancel:    cancel,
		running:   map[string]*runner{},
		locks:     map[string]*sync.Mutex{},
		routes:    map[string]eventlog.Handler{},
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wagate_session_reconnects_total",
			Help: "Reconnection attempts after a lost WhatsApp connection.",
		}),
	}
	for _, p := range cfg.Providers {
		m.providers[p.Name()] = p
	}
	if cfg.Registerer != nil {
		running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wagate_session_running",
			Help: "Sessions this worker runs now.",
		}, func() float64 { return float64(len(m.Running())) })
		for _, c := range []prometheus.Collector{m.reconnects, running} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register session metrics: %w", err)
			}
		}
	}
	return m, nil
}

// WorkerID is this worker's identity in leases.
func (m *Manager) WorkerID() string { return m.cfg.WorkerID }

// Subscription is how the worker consumes session-commands (routed to the
// session's owner, see Routed).
func (m *Manager) Subscription() eventlog.Subscription {
	return m.Routed(eventlog.Subscription{
		Name:    "session.worker",
		Stream:  eventlog.SessionCommands,
		Types:   []string{CommandStart, CommandStop, CommandLogout, CommandDelete, CommandPairCode},
		Handler: m.HandleCommand,
	})
}

// Running lists the ids of the sessions this worker runs now.
func (m *Manager) Running() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.running))
	for id := range m.running {
		ids = append(ids, id)
	}
	return ids
}

// Run restores the sessions that should run, then keeps leases renewed and
// the running set in line with the database until ctx ends. On the way out
// it disconnects every session (keeping pairings) and releases its leases,
// so another worker can take them over at once.
func (m *Manager) Run(ctx context.Context) error {
	defer m.shutdown()
	m.log.Info("session worker started")
	m.reconcileAll(ctx)
	t := time.NewTicker(m.cfg.ReconcileInterval)
	defer t.Stop()
	mail := time.NewTicker(m.cfg.MailboxInterval)
	defer mail.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.renewLeases(ctx)
			m.reconcileAll(ctx)
		case <-mail.C:
			m.drainMailbox(ctx)
		}
	}
}

// renewLeases extends this worker's leases and stops sessions whose lease
// was lost (this worker stalled past the TTL and another took over).
func (m *Manager) renewLeases(ctx context.Context) {
	held, err := m.leases.renew(ctx)
	if err != nil {
		m.log.Warn("renew session leases", "error", err)
		return
	}
	for _, id := range m.Running() {
		if !held[id] {
			m.log.Warn("session lease lost; stopping it here", "session", id)
			m.stopLocal(id, ReasonNone)
		}
	}
}

// reconcileAll starts the restorable sessions nobody runs and stops local
// sessions users no longer want running. It is how a starting worker
// restores sessions, and how a command that reached another worker still
// takes effect here.
func (m *Manager) reconcileAll(ctx context.Context) {
	want, err := m.store.Restorable(ctx, m.cfg.WorkerID, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("list restorable sessions", "error", err)
		}
		return
	}
	wanted := map[string]bool{}
	// Connecting takes a few network round trips per session; one at a
	// time, a worker restoring hundreds of sessions would need minutes —
	// longer than a lease lives while this loop renews none.
	var restoring sync.WaitGroup
	slots := make(chan struct{}, restoreParallelism)
	for _, s := range want {
		wanted[s.ID()] = true
		if m.get(s.ID()) != nil {
			continue
		}
		slots <- struct{}{}
		restoring.Add(1)
		go func() {
			defer func() { <-slots; restoring.Done() }()
			if _, err := m.ensureRunning(ctx, s); err != nil && !errors.Is(err, errOwnedElsewhere) {
				m.log.Warn("restore session", "session", s.ID(), "error", err)
			}
		}()
	}
	restoring.Wait()
	for _, id := range m.Running() {
		if wanted[id] {
			continue
		}
		r := m.get(id)
		if r == nil {
			continue
		}
		sess, err := m.store.GetAny(ctx, r.ref.TenantID, id)
		// The stop or logout command normally does this; the loop only
		// catches commands that went astray, so it leaves recent changes to
		// them (a logout must end as logged_out, not stopped; a deleted device
		// must be unlinked, not just disconnected).
		settled := err == nil && time.Since(sess.UpdatedAt()) > 2*m.cfg.ReconcileInterval
		if errors.Is(err, ErrNotFound) || (settled && (!sess.WantRunning() || sess.Deleted())) {
			m.stop(ctx, r.ref, ReasonStopped)
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	m.cancel() // ends pending pair-code requests and reconnect attempts
	m.mu.Unlock()
	m.wg.Wait()
	for _, id := range m.Running() {
		m.stopLocal(id, ReasonWorkerStopped)
	}
	m.log.Info("session worker stopped")
}

func (m *Manager) get(id string) *runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[id]
}

// lockFor returns the lifecycle lock of a session: opening, connecting,
// stopping and logging out one session never overlap.
func (m *Manager) lockFor(id string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[id] = l
	}
	return l
}

// connectedClient returns the client of a session this worker runs, if it
// is connected now.
func (m *Manager) connectedClient(tenantID, sessionID string) (Client, error) {
	r := m.get(sessionID)
	if r == nil || r.ref.TenantID != tenantID || !r.client.IsConnected() {
		return nil, ErrNotConnected
	}
	return r.client, nil
}

// bg returns a context for a write the manager must finish even while
// shutting down.
func (m *Manager) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(m.ctx), 15*time.Second)
}
