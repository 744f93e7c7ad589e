package app

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/internal/eventlog"
)

// roleSubscription is a subscription and the role whose processes run it.
type roleSubscription struct {
	role Role
	sub  eventlog.Subscription
}

// eventlogConfig maps the process configuration onto the event log's.
func (a *App) eventlogConfig() eventlog.Config {
	return eventlog.Config{
		Prefix:       a.Config.RedisPrefix,
		MaxAttempts:  a.Config.MaxAttempts,
		StreamMaxLen: a.Config.StreamMaxLen,
	}
}

// wireEventlog builds a.Events — Redis consumer groups in distributed mode,
// the embedded cursor log otherwise — and, in distributed mode, the outbox
// dispatcher loop for the outbox-dispatcher role.
func (a *App) wireEventlog(ctx context.Context) error {
	cfg := a.eventlogConfig()
	if a.Redis == nil {
		events, err := eventlog.NewEmbeddedLog(a.DB, cfg, a.Logger, a.Metrics)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		a.Events = events
		return nil
	}
	events, err := eventlog.NewRedisLog(a.DB, a.Redis, cfg, a.Logger, a.Metrics)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	a.Events = events
	if a.Role.runs(RoleOutboxDispatcher) {
		d, err := eventlog.NewDispatcher(a.DB, a.Redis, cfg, a.Logger, a.Metrics)
		if err != nil {
			return fmt.Errorf("outbox dispatcher: %w", err)
		}
		a.addLoop("outbox-dispatcher", d.Run)
	}
	return nil
}

// subscribe registers subscriptions that processes of role run (RoleServe
// runs every role's). Call it from wire_<context>.go before startEventlog.
func (a *App) subscribe(role Role, subs ...eventlog.Subscription) {
	for _, s := range subs {
		a.subscriptions = append(a.subscriptions, roleSubscription{role: role, sub: s})
	}
}

// startEventlog adds one loop running every subscription of this process's
// role. It is the last step of wire, after every context subscribed.
func (a *App) startEventlog() {
	var subs []eventlog.Subscription
	for _, rs := range a.subscriptions {
		if a.Role.runs(rs.role) {
			subs = append(subs, rs.sub)
		}
	}
	if len(subs) == 0 {
		return
	}
	a.addLoop("event-consumers", func(ctx context.Context) error { return a.Events.Run(ctx, subs...) })
}
