package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
)

// Close codes beyond RFC 6455's, in the private range.
const (
	// StatusSinceTooOld closes a connection whose ?since= is unknown or
	// older than the replay window: reconnect without since (and reload
	// state through the REST API).
	StatusSinceTooOld websocket.StatusCode = 4410
)

// HandlerConfig tunes the WebSocket endpoint; zero fields get the
// documented defaults.
type HandlerConfig struct {
	// PingInterval is how often the server pings; a peer that does not
	// answer within PongTimeout is dropped. Default 30s.
	PingInterval time.Duration
	// PongTimeout defaults to PingInterval.
	PongTimeout time.Duration
	// WriteTimeout bounds one frame's write; a peer that does not take it
	// in time is dropped. Default 10s.
	WriteTimeout time.Duration
	// ReplayWindow is how far back ?since= may reach. Default 24h; it must
	// not exceed the outbox retention.
	ReplayWindow time.Duration
	// ReplayBatch is how many outbox rows one replay read takes. Default 500.
	ReplayBatch int
}

func (c *HandlerConfig) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = c.PingInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReplayWindow <= 0 {
		c.ReplayWindow = 24 * time.Hour
	}
	if c.ReplayBatch <= 0 {
		c.ReplayBatch = 500
	}
}

// Replayer is where a resuming connection's missed events come from: the
// outbox in embedded mode (OutboxLog), the Redis stream in distributed mode
// (StreamLog) — the log the hub follows, in the same order.
type Replayer interface {
	// locate returns the position of eventID, one of tenantID's events
	// within window, or errSinceTooOld.
	locate(ctx context.Context, tenantID, eventID string, window time.Duration) (position, error)
	// after returns the tenant's events after from, narrowed to f's session,
	// reading up to limit entries; next is where the next read starts and
	// more whether entries may remain.
	after(ctx context.Context, f Filter, from position, limit int) (rows []row, next position, more bool, err error)
}

// Handler serves GET /ws/sessions.
type Handler struct {
	hub    *Hub
	log    Replayer
	auth   httpapi.Authenticator
	cfg    HandlerConfig
	logger *slog.Logger
}

// NewHandler builds the WebSocket endpoint over hub; log must be the log
// hub follows. auth resolves the access_token query parameter (headers are
// resolved by the global middleware); nil disables it.
func NewHandler(cfg HandlerConfig, hub *Hub, log Replayer, auth httpapi.Authenticator, logger *slog.Logger) *Handler {
	cfg.setDefaults()
	return &Handler{hub: hub, log: log, auth: auth, cfg: cfg, logger: logger}
}

// ServeHTTP authenticates, reserves the connection's place in the hub (so
// nothing published from here on is missed), upgrades, replays what the
// client missed and then streams live events.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.principal(r)
	if err != nil {
		httpapi.WriteError(w, r, h.logger, err)
		return
	}
	req, err := parseRequest(p.TenantID, r.URL.Query())
	if err != nil {
		httpapi.WriteError(w, r, h.logger, err)
		return
	}
	sub, err := h.hub.subscribe(r.Context(), req.filter)
	if err != nil {
		httpapi.WriteError(w, r, h.logger, err)
		return
	}
	defer h.hub.unsubscribe(sub)

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Credentials travel in headers or the query string, never in
		// cookies, so a page of another origin cannot ride on a user's
		// session: cross-origin browser clients are fine.
		InsecureSkipVerify: tokenAuthenticated(r),
	})
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(4096) // clients only send control frames
	h.serve(r.Context(), conn, sub, req)
}

// tokenAuthenticated reports whether the request carries its credentials
// explicitly (not in an ambient cookie).
func tokenAuthenticated(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" || r.URL.Query().Has("access_token")
}

// principal is the caller from the Authorization or X-Api-Key header, or
// else from ?access_token=, which browsers need because they cannot set
// headers on a WebSocket.
func (h *Handler) principal(r *http.Request) (httpapi.Principal, error) {
	p, err := httpapi.PrincipalFrom(r.Context())
	if err == nil {
		return p, nil
	}
	token := r.URL.Query().Get("access_token")
	if token == "" || h.auth == nil || r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
		return httpapi.Principal{}, err
	}
	var firstErr error
	for _, set := range []func(http.Header){
		func(hd http.Header) { hd.Set("Authorization", "Bearer "+token) },
		func(hd http.Header) { hd.Set("X-Api-Key", token) },
	} {
		rc := r.Clone(r.Context())
		set(rc.Header)
		p, ok, err := h.auth.Authenticate(r.Context(), rc)
		if err == nil && ok && p.TenantID != "" {
			return p, nil
		}
		if firstErr == nil && err != nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		// A classified refusal ("token expired") keeps its problem; anything
		// else is a failure of the authenticator, answered as a bare 500.
		return httpapi.Principal{}, firstErr
	}
	return httpapi.Principal{}, httpapi.ErrUnauthenticated
}

func (h *Handler) serve(ctx context.Context, conn *websocket.Conn, sub *subscriber, req request) {
	// CloseRead answers pings and close frames; ctx ends when the peer
	// goes away.
	ctx = conn.CloseRead(ctx)
	go h.keepAlive(ctx, conn)

	var sent *resume
	if req.since != "" {
		var err error
		sent, err = h.replay(ctx, conn, sub, req)
		if err != nil {
			h.closeFor(ctx, conn, sub, err)
			return
		}
	}
	for {
		select {
		case <-sub.slow:
			h.closeFor(ctx, conn, sub, errSlow)
			return
		default:
		}
		select {
		case fr := <-sub.frames:
			if sent.has(fr) {
				continue
			}
			if err := h.write(ctx, conn, fr.data); err != nil {
				h.closeFor(ctx, conn, sub, err)
				return
			}
		case <-sub.slow:
			h.closeFor(ctx, conn, sub, errSlow)
			return
		case <-h.hub.done:
			_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case <-ctx.Done():
			_ = conn.CloseNow()
			return
		}
	}
}

var (
	errSlow         = errors.New("client too slow")
	errWriteTimeout = errors.New("write timed out")
)

// replay sends the tenant's events after req.since from the log. Events
// published live meanwhile wait in sub.frames; the returned resume tells
// which of them were replayed already.
func (h *Handler) replay(ctx context.Context, conn *websocket.Conn, sub *subscriber, req request) (*resume, error) {
	pos, err := h.log.locate(ctx, req.filter.TenantID, req.since, h.cfg.ReplayWindow)
	if err != nil {
		return nil, err
	}
	// Frames of a source without positions (tests) are told by id: what is
	// queued live overlaps at most the last BufferSize replayed events.
	r := &resume{seen: newRecentIDs(2 * h.hub.cfg.BufferSize)}
	r.seen.add(req.since)
	for {
		rows, next, more, err := h.log.after(ctx, req.filter, pos, h.cfg.ReplayBatch)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			select {
			case <-sub.slow:
				return nil, errSlow
			default:
			}
			if !eventlog.MatchType(req.filter.Types, row.env.Type) {
				continue
			}
			data, err := json.Marshal(row.env)
			if err != nil {
				return nil, err
			}
			if err := h.write(ctx, conn, data); err != nil {
				return nil, err
			}
			r.seen.add(row.env.ID)
		}
		pos = next
		if !more {
			r.horizon = pos
			return r, nil
		}
	}
}

// resume is what a resumed connection has already sent.
type resume struct {
	// horizon is the last position replayed (or since's own). The replay
	// is a complete prefix of the log up to it, and the hub follows the
	// same log in the same order, so a live frame at or before it was
	// either replayed or seen by the client before it reconnected.
	horizon position
	// seen holds the ids replayed last, for frames without a position.
	seen *recentIDs
}

// has reports whether fr was already sent; a nil resume has sent nothing.
func (r *resume) has(fr frame) bool {
	if r == nil {
		return false
	}
	if fr.hasPos {
		return !fr.pos.after(r.horizon)
	}
	return r.seen.skip(fr.id)
}

func (h *Handler) write(ctx context.Context, conn *websocket.Conn, data []byte) error {
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, data); err != nil {
		if errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return errWriteTimeout
		}
		return err
	}
	return nil
}

// closeFor ends the connection with the close code that explains err.
func (h *Handler) closeFor(ctx context.Context, conn *websocket.Conn, sub *subscriber, err error) {
	h.hub.unsubscribe(sub)
	switch {
	case errors.Is(err, errSlow):
		_ = conn.Close(websocket.StatusTryAgainLater, "client too slow; reconnect with since")
	case errors.Is(err, errSinceTooOld):
		_ = conn.Close(StatusSinceTooOld, "since too old; reconnect without since")
	case errors.Is(err, errWriteTimeout):
		h.hub.droppedDead()
		_ = conn.CloseNow()
	case ctx.Err() != nil:
		_ = conn.CloseNow()
	default:
		h.logger.Error("websocket stream failed", "tenantId", sub.filter.TenantID, "error", err.Error())
		_ = conn.Close(websocket.StatusInternalError, "internal error")
	}
}

// keepAlive pings the peer; one that does not answer in time is dropped.
func (h *Handler) keepAlive(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, h.cfg.PongTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.hub.droppedDead()
				_ = conn.CloseNow()
			}
			return
		}
	}
}

// recentIDs remembers the last n ids added.
type recentIDs struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (r *recentIDs) add(id string) {
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = struct{}{}
}

// skip reports whether id was already sent (and forgets it: the live queue
// carries each id once).
func (r *recentIDs) skip(id string) bool {
	if _, ok := r.set[id]; ok {
		delete(r.set, id)
		return true
	}
	return false
}
