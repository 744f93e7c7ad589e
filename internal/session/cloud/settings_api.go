package cloud

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/session"
)

// SettingsAPI serves PUT /sessions/{id}/cloud, which replaces a cloud
// session's access token, app secret or verify token (a temporary token
// expired, a secret was rotated).
type SettingsAPI struct {
	sessions *session.Store
	store    *Store
}

// NewSettingsAPI returns the settings API.
func NewSettingsAPI(sessions *session.Store, st *Store) *SettingsAPI {
	return &SettingsAPI{sessions: sessions, store: st}
}

type updateInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		AccessToken string `json:"accessToken,omitempty" maxLength:"4096" doc:"A new access token"`
		AppSecret   string `json:"appSecret,omitempty" maxLength:"256" doc:"A new app secret"`
		VerifyToken string `json:"verifyToken,omitempty" maxLength:"256" doc:"A new webhook verify token"`
	}
}

// Register adds the operation to api.
func (a *SettingsAPI) Register(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "updateCloudCredentials", Method: http.MethodPut, Path: "/sessions/{id}/cloud",
		Tags: []string{"Sessions"}, Summary: "Replace a cloud session's credentials",
		Description:   "Replaces the access token, app secret and/or verify token of a cloud session (the phone number id stays). A running session reconnects with them; a session that ended logged_out after a refused token needs POST /sessions/{id}/start.",
		DefaultStatus: http.StatusNoContent,
		Security:      []map[string][]string{{"bearer": {}}, {"apiKey": {}}},
	}, a.update)
}

func (a *SettingsAPI) update(ctx context.Context, in *updateInput) (*struct{}, error) {
	p, err := httpapi.PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := a.sessions.Get(ctx, p.TenantID, in.ID)
	if err != nil {
		return nil, err
	}
	if sess.Provider() != session.ProviderCloud {
		return nil, ErrNotCloudSession
	}
	b := in.Body
	if b.AccessToken == "" && b.AppSecret == "" && b.VerifyToken == "" {
		return nil, ErrInvalidSettings.WithMessage("give at least one of accessToken, appSecret, verifyToken")
	}
	return nil, a.store.update(ctx, sess.Ref(), b.AccessToken, b.AppSecret, b.VerifyToken)
}

// update replaces the given credentials (empty ones are kept) and tells
// the session's worker, in one transaction.
func (s *Store) update(ctx context.Context, ref session.Ref, accessToken, appSecret, verifyToken string) error {
	// Check validates every field; stand-ins fill the ones not replaced.
	probe := session.CloudSettings{PhoneNumberID: "1", AccessToken: "x", AppSecret: "x", VerifyToken: "xxxxxxxx"}
	if accessToken != "" {
		probe.AccessToken = accessToken
	}
	if appSecret != "" {
		probe.AppSecret = appSecret
	}
	if verifyToken != "" {
		probe.VerifyToken = verifyToken
	}
	if err := s.Check(probe); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMilli()
		sets := []struct{ column, value string }{}
		if accessToken != "" {
			v, err := s.secrets.Seal(accessToken, ref.SessionID+"/access_token")
			if err != nil {
				return err
			}
			sets = append(sets, struct{ column, value string }{"access_token", v})
		}
		if appSecret != "" {
			v, err := s.secrets.Seal(appSecret, ref.SessionID+"/app_secret")
			if err != nil {
				return err
			}
			sets = append(sets, struct{ column, value string }{"app_secret", v})
		}
		if verifyToken != "" {
			sets = append(sets, struct{ column, value string }{"verify_token_mac", s.secrets.MAC(verifyToken)})
		}
		for _, set := range sets {
			// column is one of three constants above, never input.
			res, err := tx.ExecContext(ctx, `UPDATE cloud_sessions SET `+set.column+` = $3, updated_at = $4
				WHERE tenant_id = $1 AND session_id = $2`, ref.TenantID, ref.SessionID, set.value, now)
			if err != nil {
				return fmt.Errorf("update cloud credentials of session %s: %w", ref.SessionID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return session.ErrNotFound
			}
		}
		env, err := eventlog.NewEnvelope(ctx, ref.TenantID, ref.SessionID, CredentialsChanged{})
		if err != nil {
			return err
		}
		return eventlog.Append(ctx, tx, eventlog.SessionCommands, env)
	})
}
