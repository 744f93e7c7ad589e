package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// errOwnedElsewhere: another live worker holds the session's lease.
var errOwnedElsewhere = errors.New("session is run by another worker")

// runner is one session running on this worker. client and sink never
// change after the runner is published; retry state has its own lock
// because sink callbacks must not wait for lifecycle operations.
type runner struct {
	ref      Ref
	provider string
	client   Client
	sink     *sink

	mu      sync.Mutex
	closed  bool
	attempt int
	retry   *time.Timer
}

// ensureRunning runs a session on this worker unless it already does: takes
// the lease, opens a client and starts connecting.
func (m *Manager) ensureRunning(ctx context.Context, sess *Session) (*runner, error) {
	ref := sess.Ref()
	l := m.lockFor(ref.SessionID)
	l.Lock()
	defer l.Unlock()
	if r := m.get(ref.SessionID); r != nil {
		return r, nil
	}
	if m.ctx.Err() != nil {
		return nil, errors.New("session manager is shutting down")
	}
	p := m.providers[sess.Provider()]
	if p == nil {
		m.setStatus(ref, func(s *Session, now time.Time) { s.MarkDisconnected(ReasonProviderUnavailable, now) })
		return nil, ErrUnknownProvider.WithMessage("provider %q is not enabled on this worker", sess.Provider())
	}
	ok, err := m.leases.acquire(ctx, ref.SessionID)
	if err != nil {
		return nil, err
	}
	if !ok {
		m.log.Debug("session is owned by another worker", "session", ref.SessionID)
		return nil, errOwnedElsewhere
	}
	r := &runner{ref: ref, provider: p.Name()}
	r.sink = &sink{m: m, r: r}
	client, err := p.Open(m.ctx, ref, r.sink)
	if err != nil {
		m.log.Error("open session client", "session", ref.SessionID, "provider", p.Name(), "error", err)
		m.setStatus(ref, func(s *Session, now time.Time) { s.MarkDisconnected(ReasonError, now) })
		m.releaseLease(ref.SessionID)
		return nil, err
	}
	r.client = client
	m.mu.Lock()
	m.running[ref.SessionID] = r
	m.mu.Unlock()
	m.log.Info("session started", "session", ref.SessionID, "tenant", ref.TenantID, "provider", p.Name())
	m.connect(r)
	return r, nil
}

// connect starts connecting; a failure counts as a lost connection, so it
// is retried with backoff. Callers hold the session's lifecycle lock.
func (m *Manager) connect(r *runner) {
	if err := r.client.Connect(m.ctx); err != nil {
		if m.ctx.Err() != nil {
			return
		}
		m.log.Warn("connect session", "session", r.ref.SessionID, "error", err)
		r.sink.Disconnected(ReasonConnectionLost, false)
	}
}

// stop ends a session with reason: locally when this worker runs it,
// otherwise only its stored status, and only when no live worker runs it.
func (m *Manager) stop(ctx context.Context, ref Ref, reason DisconnectReason) {
	if m.stopLocal(ref.SessionID, reason) {
		return
	}
	sess, err := m.store.Get(ctx, ref.TenantID, ref.SessionID)
	if err != nil || sess.Status() == StatusDisconnected {
		return
	}
	ok, err := m.leases.acquire(ctx, ref.SessionID)
	if err != nil || !ok {
		return
	}
	defer m.releaseLease(ref.SessionID)
	m.setStatus(ref, func(s *Session, now time.Time) { s.MarkDisconnected(reason, now) })
}

// stopLocal disconnects and closes a session this worker runs, keeping its
// pairing, records reason (unless ReasonNone) and releases the lease. It
// reports whether the session ran here.
func (m *Manager) stopLocal(id string, reason DisconnectReason) bool {
	l := m.lockFor(id)
	l.Lock()
	defer l.Unlock()
	r := m.detach(id)
	if r == nil {
		return false
	}
	r.client.Disconnect()
	m.closeClient(r)
	if reason != ReasonNone {
		m.setStatus(r.ref, func(s *Session, now time.Time) { s.MarkDisconnected(reason, now) })
	}
	m.releaseLease(id)
	m.log.Info("session stopped", "session", id, "reason", string(reason))
	return true
}

// detach removes a runner from the running set and silences its sink, so
// nothing the client still reports reaches the database.
func (m *Manager) detach(id string) *runner {
	m.mu.Lock()
	r := m.running[id]
	delete(m.running, id)
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	r.closed = true
	if r.retry != nil {
		r.retry.Stop()
		r.retry = nil
	}
	r.mu.Unlock()
	r.sink.dead.Store(true)
	return r
}

func (m *Manager) closeClient(r *runner) {
	if err := r.client.Close(); err != nil {
		m.log.Warn("close session client", "session", r.ref.SessionID, "error", err)
	}
}

func (m *Manager) releaseLease(id string) {
	ctx, cancel := m.bg()
	defer cancel()
	if err := m.leases.release(ctx, id); err != nil {
		m.log.Warn("release session lease", "session", id, "error", err)
	}
}

// end closes a runner after its client reported a disconnection no retry
// can fix (logged out, banned, QR timeout, …); the status is already stored.
func (m *Manager) end(r *runner, reason DisconnectReason) {
	l := m.lockFor(r.ref.SessionID)
	l.Lock()
	defer l.Unlock()
	if m.get(r.ref.SessionID) != r {
		return
	}
	m.detach(r.ref.SessionID)
	r.client.Disconnect()
	m.closeClient(r)
	m.releaseLease(r.ref.SessionID)
	m.log.Info("session ended", "session", r.ref.SessionID, "reason", string(reason))
}

// scheduleReconnect plans the next connection attempt with exponential
// backoff and jitter, unless one is planned already.
func (m *Manager) scheduleReconnect(r *runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.retry != nil || m.ctx.Err() != nil {
		return
	}
	r.attempt++
	delay := backoff(r.attempt, m.cfg.ReconnectMin, m.cfg.ReconnectMax, rand.Float64())
	m.log.Info("session will reconnect", "session", r.ref.SessionID, "attempt", r.attempt, "delay", delay.String())
	r.retry = time.AfterFunc(delay, func() {
		r.mu.Lock()
		r.retry = nil
		closed := r.closed
		r.mu.Unlock()
		if !closed {
			m.reconnect(r)
		}
	})
}

func (m *Manager) reconnect(r *runner) {
	l := m.lockFor(r.ref.SessionID)
	l.Lock()
	defer l.Unlock()
	if m.get(r.ref.SessionID) != r || m.ctx.Err() != nil {
		return
	}
	m.reconnects.Inc()
	r.client.Disconnect() // a half-open socket must not block the new attempt
	m.connect(r)
}

// connected resets the backoff after a successful connection.
func (r *runner) connected() {
	r.mu.Lock()
	r.attempt = 0
	r.mu.Unlock()
}

// backoff is the delay before reconnect attempt n (from 1): min·2^(n-1)
// capped at max, then jittered into [d/2, d) so many sessions that dropped
// together do not reconnect together. jitter is in [0, 1).
func backoff(n int, min, max time.Duration, jitter float64) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(jitter*float64(d/2))
}

// setStatus applies a worker-observed status change to the stored session.
// A deleted session is left alone.
func (m *Manager) setStatus(ref Ref, fn func(s *Session, now time.Time)) {
	ctx, cancel := m.bg()
	defer cancel()
	_, err := m.store.Update(ctx, ref.TenantID, ref.SessionID, func(s *Session) error {
		fn(s, time.Now())
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.log.Error("store session status", "session", ref.SessionID, "error", err)
	}
}
