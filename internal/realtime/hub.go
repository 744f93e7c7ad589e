// Package realtime streams a tenant's domain events to WebSocket clients:
// a Hub in every API process receives every event (fan-out, not a shared
// consumer group) and hands each connection the ones its filter selects,
// without ever waiting for a slow connection. A client that reconnects with
// ?since= first gets what it missed from the outbox table, then live events,
// with no gap and no repeat.
package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// Source feeds the hub every domain event appended after it starts, in log
// order. Run blocks until ctx ends; failures of the underlying log are
// retried inside, so it returns only ctx's error.
type Source interface {
	Run(ctx context.Context, emit func(eventlog.Envelope)) error
}

// positionedSource is a Source that knows each event's position in the log
// (outbox or stream): frames then carry it, and a resuming connection skips
// live frames at or before what it replayed, exactly.
type positionedSource interface {
	// runPositioned calls ready once everything appended from then on will
	// be emitted.
	runPositioned(ctx context.Context, ready func(), emit func(eventlog.Envelope, position)) error
}

// HubConfig tunes a Hub; zero fields get the documented defaults.
type HubConfig struct {
	// MaxConnsPerTenant bounds one tenant's open connections. Default 100.
	MaxConnsPerTenant int
	// BufferSize is how many frames may wait for one connection; a
	// connection that falls this far behind is dropped (close 1013) instead
	// of slowing the hub down. Default 512.
	BufferSize int
}

func (c *HubConfig) setDefaults() {
	if c.MaxConnsPerTenant <= 0 {
		c.MaxConnsPerTenant = 100
	}
	if c.BufferSize <= 0 {
		c.BufferSize = 512
	}
}

// Hub fans events out to the connections of their tenant. Publish never
// blocks on a connection.
type Hub struct {
	cfg     HubConfig
	logger  *slog.Logger
	metrics hubMetrics

	mu      sync.Mutex
	tenants map[string]map[*subscriber]struct{}
	stopped bool
	// ready is closed once the source has fixed where it starts: a
	// connection subscribed before could miss events committed meanwhile.
	ready     chan struct{}
	readyOnce sync.Once
	// done is closed when the hub stops; connections then close with 1001.
	done chan struct{}
}

type hubMetrics struct {
	clients prometheus.Gauge
	dropped *prometheus.CounterVec
}

// Reasons a connection is dropped, the label of the dropped counter.
const (
	dropSlow = "slow"
	dropDead = "dead"
)

// NewHub builds a hub and registers its metrics on reg.
func NewHub(cfg HubConfig, logger *slog.Logger, reg prometheus.Registerer) (*Hub, error) {
	cfg.setDefaults()
	h := &Hub{
		cfg:     cfg,
		logger:  logger,
		tenants: make(map[string]map[*subscriber]struct{}),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		metrics: hubMetrics{
			clients: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "wagate_realtime_clients",
				Help: "WebSocket clients connected to this process.",
			}),
			dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "wagate_realtime_clients_dropped_total",
				Help: "WebSocket clients dropped by the server: slow (buffer full, closed with 1013) or dead (no pong, write timeout).",
			}, []string{"reason"}),
		},
	}
	for _, c := range []prometheus.Collector{h.metrics.clients, h.metrics.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	h.metrics.dropped.WithLabelValues(dropSlow)
	h.metrics.dropped.WithLabelValues(dropDead)
	return h, nil
}

// frame is one event ready to send: encoded once, shared by every
// connection that receives it.
type frame struct {
	id   string
	data []byte
	// pos is the event's position in the log when hasPos.
	pos    position
	hasPos bool
}

// subscriber is one connection's place in the hub.
type subscriber struct {
	filter Filter
	frames chan frame
	// slow is closed when the hub dropped the subscriber for a full buffer.
	slow     chan struct{}
	slowOnce sync.Once
	removed  bool // guarded by Hub.mu
}

var errTooManyConnections = apperr.RateLimited("too-many-connections",
	"too many WebSocket connections for this account", 5)

var (
	errHubStopped  = apperr.Unavailable("realtime-stopping", "the server is shutting down")
	errHubStarting = apperr.Unavailable("realtime-starting", "live events are not available yet; retry shortly")
)

// readyWait bounds how long a connection waits for a starting hub.
const readyWait = 5 * time.Second

// subscribe registers a connection before its WebSocket upgrade, so events
// published from now on are queued for it while it replays what it missed.
func (h *Hub) subscribe(ctx context.Context, f Filter) (*subscriber, error) {
	select {
	case <-h.ready:
	case <-h.done:
		return nil, errHubStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(readyWait):
		return nil, errHubStarting
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, errHubStopped
	}
	set := h.tenants[f.TenantID]
	if len(set) >= h.cfg.MaxConnsPerTenant {
		return nil, errTooManyConnections
	}
	if set == nil {
		set = make(map[*subscriber]struct{})
		h.tenants[f.TenantID] = set
	}
	s := &subscriber{filter: f, frames: make(chan frame, h.cfg.BufferSize), slow: make(chan struct{})}
	set[s] = struct{}{}
	h.metrics.clients.Inc()
	return s, nil
}

// unsubscribe removes a connection; calling it twice is harmless.
func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *subscriber) {
	if s.removed {
		return
	}
	s.removed = true
	set := h.tenants[s.filter.TenantID]
	delete(set, s)
	if len(set) == 0 {
		delete(h.tenants, s.filter.TenantID)
	}
	h.metrics.clients.Dec()
}

// Publish hands env to every connection of its tenant whose filter matches.
// A connection whose buffer is full is dropped rather than waited for.
func (h *Hub) Publish(env eventlog.Envelope) { h.publish(env, position{}, false) }

func (h *Hub) publish(env eventlog.Envelope, pos position, hasPos bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var fr frame
	for s := range h.tenants[env.TenantID] {
		if !s.filter.Matches(env) {
			continue
		}
		if fr.data == nil {
			data, err := json.Marshal(env)
			if err != nil {
				h.logger.Error("encode event for websocket", "eventId", env.ID, "error", err)
				return
			}
			fr = frame{id: env.ID, data: data, pos: pos, hasPos: hasPos}
		}
		select {
		case s.frames <- fr:
		default:
			h.removeLocked(s)
			s.slowOnce.Do(func() { close(s.slow) })
			h.metrics.dropped.WithLabelValues(dropSlow).Inc()
		}
	}
}

// Run feeds the hub from src until ctx ends, then stops the hub: open
// connections are closed with 1001 (going away) and new ones refused.
func (h *Hub) Run(ctx context.Context, src Source) error {
	defer h.stop()
	markReady := func() { h.readyOnce.Do(func() { close(h.ready) }) }
	if ps, ok := src.(positionedSource); ok {
		return ps.runPositioned(ctx, markReady, func(e eventlog.Envelope, p position) { h.publish(e, p, true) })
	}
	markReady() // a plain source emits from the moment it runs
	return src.Run(ctx, h.Publish)
}

func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		close(h.done)
	}
}

// Clients reports how many connections the hub holds (for tests and
// diagnostics; the gauge is the operational view).
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.tenants {
		n += len(set)
	}
	return n
}

func (h *Hub) droppedDead() { h.metrics.dropped.WithLabelValues(dropDead).Inc() }
