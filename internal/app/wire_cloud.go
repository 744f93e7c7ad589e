package app

import (
	"context"
	"fmt"
	"time"

	"github.com/wagate/wagate/internal/session"
	"github.com/wagate/wagate/internal/session/cloud"
)

// cloudStore returns the store of cloud sessions' credentials. Its cipher
// comes from WAGATE_SECRET_KEY; without the key cloud sessions cannot be
// created (422 secret-key-required) and stored credentials cannot be read.
func (a *App) cloudStore() (*cloud.Store, error) {
	var secrets *cloud.Secrets
	if a.Config.SecretKey != "" {
		s, err := cloud.NewSecrets(a.Config.SecretKey)
		if err != nil {
			return nil, err
		}
		secrets = s
	}
	return cloud.NewStore(a.DB, secrets), nil
}

// cloudProvider builds the Cloud API provider for session workers
// (wireSessions adds it to the manager, with its routed subscription).
func (a *App) cloudProvider() (*cloud.Provider, error) {
	st, err := a.cloudStore()
	if err != nil {
		return nil, err
	}
	return cloud.New(cloud.Config{
		BaseURL:       a.Config.CloudAPIBaseURL,
		MaxMediaBytes: a.Config.MaxMediaBytes,
	}, st, a.Logger), nil
}

// wireCloud serves Meta's webhook at GET/POST /webhooks/messages and
// PUT /sessions/{id}/cloud (credential rotation) in API processes, and
// forgets accepted webhook items after cloud.SeenRetention.
func (a *App) wireCloud(ctx context.Context) error {
	if !a.Role.runs(RoleAPI) {
		return nil
	}
	st, err := a.cloudStore()
	if err != nil {
		return err
	}
	api, err := cloud.NewWebhookAPI(st, a.Logger, a.Metrics.Registry)
	if err != nil {
		return fmt.Errorf("cloud webhook: %w", err)
	}
	api.Register(a.HTTP.API)
	cloud.NewSettingsAPI(session.NewStore(a.DB), st).Register(a.HTTP.API)
	a.addLoop("cloud-cleanup", func(ctx context.Context) error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if _, err := st.Cleanup(ctx, time.Now().Add(-cloud.SeenRetention)); err != nil && ctx.Err() == nil {
				a.Logger.Warn("cloud webhook cleanup", "error", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	})
	return nil
}
