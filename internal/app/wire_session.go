package app

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/session/simulator"
	"github.com/wagate/wagate/internal/session/whatsmeow"
)

// wireSessions builds the session context: the HTTP API (and the simulator
// controls when WAGATE_SIMULATOR=true) for API processes, and for session
// workers the manager with its providers, its command subscriptions and its
// run loop. a.SessionManager is set in session-worker processes only; other
// contexts use it there to send through a session.
func (a *App) wireSessions(ctx context.Context) error {
	sessions := session.NewStore(a.DB)
	if a.Role.runs(RoleAPI) {
		providers := []string{session.ProviderWhatsmeow, session.ProviderCloud}
		if a.Config.Simulator {
			providers = append(providers, session.ProviderSimulator)
		}
		cloudCreds, err := a.cloudStore()
		if err != nil {
			return err
		}
		session.NewAPI(sessions, session.APIConfig{Providers: providers, Cloud: cloudCreds}).Register(a.HTTP.API)
		if err := a.Metrics.Registry.Register(session.NewStatusCollector(sessions, a.Logger)); err != nil {
			return fmt.Errorf("session metrics: %w", err)
		}
		if a.Config.Simulator {
			simulator.NewAPI(sessions).Register(a.HTTP.API)
		}
	}
	if !a.Role.runs(RoleSessionWorker) {
		return nil
	}
	wm, err := whatsmeow.New(ctx, whatsmeow.Config{ConfigureClient: a.opts.WhatsmeowClient}, a.DB, a.Logger)
	if err != nil {
		return fmt.Errorf("whatsmeow provider: %w", err)
	}
	cp, err := a.cloudProvider()
	if err != nil {
		return err
	}
	providers := []session.Provider{wm, cp}
	var sim *simulator.Provider
	if a.Config.Simulator {
		sim = simulator.New(simulator.Config{}, a.DB, a.Logger)
		providers = append(providers, sim)
	}
	mgr, err := session.NewManager(session.ManagerConfig{
		Store:      sessions,
		Providers:  providers,
		Registerer: a.Metrics.Registry,
	}, a.Logger)
	if err != nil {
		return err
	}
	a.SessionManager = mgr
	a.subscribe(RoleSessionWorker, mgr.Subscription(), mgr.Routed(cp.Subscription()))
	if sim != nil {
		a.subscribe(RoleSessionWorker, mgr.Routed(sim.Subscription()))
	}
	a.addLoop("session-manager", mgr.Run)
	return nil
}
