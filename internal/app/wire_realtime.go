package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/realtime"
	"github.com/wagate/wagate/internal/webhook"
)

// wireRealtime builds the realtime and webhook contexts. API processes get a
// hub that sees every domain event (the outbox in embedded mode, a plain
// XREAD of the stream in distributed mode), GET /ws/sessions and the
// /webhook-endpoints routes; event consumers get the webhook fan-out
// subscriber and the delivery loop.
func (a *App) wireRealtime(ctx context.Context) error {
	hooks := webhook.NewStore(a.DB)
	guard := webhook.Guard{AllowPrivate: a.Config.WebhookAllowPrivate}

	if a.Role.runs(RoleAPI) {
		hub, err := realtime.NewHub(realtime.HubConfig{MaxConnsPerTenant: a.Config.WSMaxConnections}, a.Logger, a.Metrics.Registry)
		if err != nil {
			return fmt.Errorf("realtime hub: %w", err)
		}
		// The hub and the replay of ?since= read the same log: the stream in
		// distributed mode (published rows leave the outbox), the outbox
		// otherwise.
		var (
			src    realtime.Source
			replay realtime.Replayer
		)
		if a.Redis != nil {
			src = realtime.NewRedisSource(a.Redis, realtime.RedisSourceConfig{Prefix: a.Config.RedisPrefix}, a.Logger)
			replay = realtime.NewStreamLog(a.Redis, a.Config.RedisPrefix)
		} else {
			// Commits in this process wake the hub at once; commits of
			// other processes are found by polling.
			wake := make(chan struct{}, 1)
			a.DB.AfterCommit(func() {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			src = realtime.NewOutboxSource(a.DB, realtime.OutboxSourceConfig{Wake: wake}, a.Logger)
			replay = realtime.NewOutboxLog(a.DB)
		}
		a.addLoop("realtime-hub", func(ctx context.Context) error { return hub.Run(ctx, src) })
		a.HTTP.Mux.Handle("GET /ws/sessions", realtime.NewHandler(realtime.HandlerConfig{
			ReplayWindow: a.Config.WSReplayWindow,
		}, hub, replay, serverAuthenticator{a.HTTP}, a.Logger))
		webhook.NewAPI(hooks, guard, webhook.APIConfig{}).Register(a.HTTP.API)
	}

	if a.Role.runs(RoleEventConsumer) {
		deliverer, err := webhook.NewDeliverer(webhook.DelivererConfig{Guard: guard}, hooks, a.Logger, a.Metrics.Registry)
		if err != nil {
			return fmt.Errorf("webhook deliverer: %w", err)
		}
		a.addLoop("webhook-deliverer", deliverer.Run)
		a.subscribe(RoleEventConsumer, webhook.NewFanout(hooks, deliverer.Notify).Subscription())
	}
	return nil
}

// serverAuthenticator resolves credentials with whatever authenticator the
// server has when a request comes, so the order of the wire steps does not
// matter.
type serverAuthenticator struct{ srv *httpapi.Server }

func (s serverAuthenticator) Authenticate(ctx context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	auth := s.srv.Authenticator()
	if auth == nil {
		return httpapi.Principal{}, false, nil
	}
	return auth.Authenticate(ctx, r)
}
