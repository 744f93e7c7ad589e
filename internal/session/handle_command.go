package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// HandleCommand executes one session-commands entry. Every command is
// idempotent: start and stop bring the worker in line with the stored
// intent (so a redelivered or reordered command converges on the latest
// intent), logout and delete are no-ops the second time.
func (m *Manager) HandleCommand(ctx context.Context, env eventlog.Envelope) error {
	ref := Ref{TenantID: env.TenantID, SessionID: env.SessionID}
	if env.Type == CommandDelete {
		return m.remove(ctx, ref)
	}
	sess, err := m.store.Get(ctx, ref.TenantID, ref.SessionID)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted since; nothing to do
	}
	if err != nil {
		return err
	}
	switch env.Type {
	case CommandStart, CommandStop:
		return m.reconcile(ctx, sess)
	case CommandLogout:
		if err := m.logout(ctx, sess); err != nil {
			return err
		}
		// A start issued after the logout may have been handled before it.
		if sess, err = m.store.Get(ctx, ref.TenantID, ref.SessionID); err == nil {
			return m.reconcile(ctx, sess)
		}
		return nil
	case CommandPairCode:
		var cmd PairCode
		if err := env.Decode(&cmd); err != nil {
			m.log.Warn("drop malformed pair-code command", "id", env.ID, "error", err)
			return nil
		}
		m.mu.Lock()
		if m.ctx.Err() != nil {
			m.mu.Unlock()
			return errors.New("session manager is shutting down")
		}
		m.wg.Add(1)
		m.mu.Unlock()
		go func() {
			defer m.wg.Done()
			m.pairCode(sess, cmd)
		}()
		return nil
	}
	return nil
}

// reconcile runs or stops a session as its stored intent says.
func (m *Manager) reconcile(ctx context.Context, sess *Session) error {
	if !sess.WantRunning() {
		m.stop(ctx, sess.Ref(), ReasonStopped)
		return nil
	}
	_, err := m.ensureRunning(ctx, sess)
	if errors.Is(err, errOwnedElsewhere) || apperr.KindOf(err) == apperr.KindUnprocessable {
		return nil // the owner runs it; or the provider is off and the status says so
	}
	return err
}

// logout unlinks the session's device and records logged_out.
func (m *Manager) logout(ctx context.Context, sess *Session) error {
	if err := m.unlink(ctx, sess); err != nil {
		return err
	}
	m.setStatus(sess.Ref(), func(s *Session, now time.Time) { s.MarkDisconnected(ReasonLoggedOut, now) })
	return nil
}

// unlink logs the device out through the running client, or through a
// client opened for that purpose when the session does not run here.
func (m *Manager) unlink(ctx context.Context, sess *Session) error {
	ref := sess.Ref()
	l := m.lockFor(ref.SessionID)
	l.Lock()
	defer l.Unlock()
	if r := m.detach(ref.SessionID); r != nil {
		defer m.releaseLease(ref.SessionID)
		defer m.closeClient(r)
		if err := r.client.Logout(ctx); err != nil {
			return fmt.Errorf("log out session %s: %w", ref.SessionID, err)
		}
		return nil
	}
	p := m.providers[sess.Provider()]
	if p == nil {
		return nil // nothing of it can exist on this worker
	}
	ok, err := m.leases.acquire(ctx, ref.SessionID)
	if err != nil {
		return err
	}
	if !ok {
		m.log.Warn("logout of a session another worker runs is not possible here", "session", ref.SessionID)
		return nil
	}
	defer m.releaseLease(ref.SessionID)
	c, err := p.Open(ctx, ref, discardSink{})
	if err != nil {
		return fmt.Errorf("open session %s for logout: %w", ref.SessionID, err)
	}
	defer c.Close()
	if err := c.Logout(ctx); err != nil {
		return fmt.Errorf("log out session %s: %w", ref.SessionID, err)
	}
	return nil
}

// remove unlinks a deleted session's device and purges what remains.
func (m *Manager) remove(ctx context.Context, ref Ref) error {
	sess, err := m.store.GetAny(ctx, ref.TenantID, ref.SessionID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sess.Deleted() {
		return nil // not this session's command (ids are never reused)
	}
	if err := m.unlink(ctx, sess); err != nil {
		m.log.Warn("unlink deleted session; removing it anyway", "session", ref.SessionID, "error", err)
	}
	if err := m.store.Purge(ctx, ref.TenantID, ref.SessionID); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.locks, ref.SessionID)
	m.mu.Unlock()
	m.log.Info("session removed", "session", ref.SessionID)
	return nil
}

// pairCode obtains a phone-number pairing code from the session's client
// and leaves it (or why not) for the API call waiting on the request.
func (m *Manager) pairCode(sess *Session, cmd PairCode) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.PairCodeTimeout)
	defer cancel()
	answer := func(code, errCode string) {
		actx, acancel := m.bg()
		defer acancel()
		if err := m.pairs.answer(actx, sess.TenantID(), cmd.RequestID, code, errCode); err != nil {
			m.log.Error("answer pair-code request", "session", sess.ID(), "error", err)
		}
	}
	r, err := m.ensureRunning(ctx, sess)
	if errors.Is(err, errOwnedElsewhere) {
		return // the owner answers (or the API times out)
	}
	if err != nil {
		answer("", pairErrProvider)
		return
	}
	code, err := r.client.PairPhone(ctx, cmd.Phone)
	switch {
	case err == nil:
		answer(code, "")
	case errors.Is(err, ErrAlreadyConnected):
		answer("", pairErrConnected)
	case errors.Is(err, ErrProviderUnsupported):
		answer("", pairErrProvider)
	default:
		m.log.Warn("pairing code", "session", sess.ID(), "error", err)
		answer("", pairErrFailed)
	}
}
