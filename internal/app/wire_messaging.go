package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/messaging"
	"github.com/wagate/wagate/internal/session"
)

// The session worker's Manager is the messaging context's Sender, and its
// "not connected" error is the one messaging parks sends on.
var _ messaging.Sender = (*session.Manager)(nil)

// sessionChecker lets messaging ask the session store whether a tenant's
// session exists.
type sessionChecker struct{ store *session.Store }

func (c sessionChecker) Exists(ctx context.Context, tenantID, sessionID string) error {
	_, err := c.store.Get(ctx, tenantID, sessionID)
	return err
}

// wireMessaging builds the messaging context: the send, history, chat and
// media API for API processes; the subscription persisting messages and
// chats (and a cleanup loop) for event consumers; and for session workers
// the command handlers — routed to the worker that owns each session — with
// the loop that retries parked sends and expires them after
// WAGATE_SEND_TIMEOUT. Call after wireSessions (it needs a.SessionManager).
func (a *App) wireMessaging(ctx context.Context) error {
	if !errors.Is(session.ErrNotConnected, messaging.ErrSessionNotConnected) {
		return errors.New("messaging: session.ErrNotConnected no longer matches messaging.ErrSessionNotConnected")
	}
	st := messaging.NewStore(a.DB, nil)
	metrics := messaging.NewMetrics(a.Metrics.Registry)

	if a.Role.runs(RoleAPI) {
		svc, err := messaging.NewService(messaging.ServiceConfig{
			MaxMediaBytes: a.Config.MaxMediaBytes,
			MediaDir:      a.Config.MediaDir,
		}, st, sessionChecker{session.NewStore(a.DB)}, a.Logger, metrics)
		if err != nil {
			return fmt.Errorf("messaging API: %w", err)
		}
		messaging.RegisterHTTP(a.HTTP, svc)
	}

	if a.Role.runs(RoleEventConsumer) {
		a.subscribe(RoleEventConsumer, messaging.NewIngester(st, a.Logger, metrics).Subscription())
		a.addLoop("messaging-cleanup", func(ctx context.Context) error {
			t := time.NewTicker(10 * time.Minute)
			defer t.Stop()
			for {
				if _, err := st.Cleanup(ctx); err != nil && ctx.Err() == nil {
					a.Logger.Warn("messaging cleanup", "error", err)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-t.C:
				}
			}
		})
	}

	if a.Role.runs(RoleSessionWorker) {
		if a.SessionManager == nil {
			return errors.New("messaging worker: the session manager is not wired")
		}
		w, err := messaging.NewWorker(messaging.WorkerConfig{
			SendTimeout:           a.Config.SendTimeout,
			MaxMediaBytes:         a.Config.MaxMediaBytes,
			AllowPrivateMediaURLs: a.Config.MediaAllowPrivate,
		}, st, a.SessionManager, a.Logger, metrics)
		if err != nil {
			return fmt.Errorf("messaging worker: %w", err)
		}
		for _, sub := range w.Subscriptions() {
			a.subscribe(RoleSessionWorker, a.SessionManager.Routed(sub))
		}
		a.addLoop("messaging-worker", w.Run)
	}
	return nil
}
