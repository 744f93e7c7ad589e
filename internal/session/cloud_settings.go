package session

import (
	"context"
	"database/sql"

	"github.com/wagate/wagate/internal/apperr"
)

// CloudSettings are the credentials of a session of the "cloud" provider
// (Meta's WhatsApp Cloud API), given once when the session is created. They
// are stored encrypted and never returned by the API.
type CloudSettings struct {
	PhoneNumberID string `json:"phoneNumberId" minLength:"1" maxLength:"32" pattern:"^[0-9]+$" doc:"Phone number ID from Meta's App Dashboard (WhatsApp → API Setup)"`
	AccessToken   string `json:"accessToken" minLength:"1" maxLength:"4096" doc:"A permanent (system user) access token with whatsapp_business_messaging permission"`
	AppSecret     string `json:"appSecret" minLength:"1" maxLength:"256" doc:"The Meta app's secret; verifies X-Hub-Signature-256 of webhook deliveries"`
	VerifyToken   string `json:"verifyToken" minLength:"8" maxLength:"256" doc:"The verify token you type in the app's webhook settings for GET /webhooks/messages"`
}

// CloudCredentials keeps the credentials of cloud sessions; the cloud
// provider's store implements it. Check runs before the session exists;
// Save runs inside the transaction that creates it, so a cloud session never
// exists without its credentials.
type CloudCredentials interface {
	Check(s CloudSettings) error
	Save(ctx context.Context, tx *sql.Tx, ref Ref, s CloudSettings) error
}

// Errors of session creation with provider settings.
var (
	// ErrCloudSettingsRequired: provider "cloud" needs the cloud object.
	ErrCloudSettingsRequired = apperr.Invalid("cloud-settings-required",
		"provider cloud needs a cloud object: phoneNumberId, accessToken, appSecret, verifyToken")
	// ErrCloudSettingsUnexpected: the cloud object only applies to provider "cloud".
	ErrCloudSettingsUnexpected = apperr.Invalid("cloud-settings-unexpected",
		"the cloud object applies to provider cloud only")
)

// cloudSetup checks the settings of a session about to be created and
// returns what the creating transaction must also write (nil for providers
// without settings).
func (a *API) cloudSetup(provider string, s *CloudSettings) (func(context.Context, *sql.Tx, *Session) error, error) {
	if provider != ProviderCloud {
		if s != nil {
			return nil, ErrCloudSettingsUnexpected
		}
		return nil, nil
	}
	if a.cfg.Cloud == nil {
		return nil, ErrUnknownProvider.WithMessage("provider %q is not available", provider)
	}
	if s == nil {
		return nil, ErrCloudSettingsRequired
	}
	if err := a.cfg.Cloud.Check(*s); err != nil {
		return nil, err
	}
	settings := *s
	return func(ctx context.Context, tx *sql.Tx, sess *Session) error {
		return a.cfg.Cloud.Save(ctx, tx, sess.Ref(), settings)
	}, nil
}
