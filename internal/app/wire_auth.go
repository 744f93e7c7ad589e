package app

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/internal/auth"
	"github.com/wagate/wagate/internal/mail"
	"github.com/wagate/wagate/internal/user"
)

// wireAuth builds the user, auth and mail contexts: the sign-up, login and
// API-key routes plus the authenticator for processes that serve the API,
// and the mail subscriber for event consumers.
func (a *App) wireAuth(ctx context.Context) error {
	if a.Role.runs(RoleAPI) {
		users, err := user.NewService(user.Config{DB: a.DB, Sessions: auth.SessionRevoker{}}, a.Logger)
		if err != nil {
			return err
		}
		key, err := auth.LoadSigningKey(ctx, a.DB, a.Config.JWTKey)
		if err != nil {
			// Without WAGATE_JWT_KEY the key lives in the settings table,
			// so an unmigrated database cannot serve logins: fail at start.
			return fmt.Errorf("JWT signing key (set WAGATE_JWT_KEY, or run `wagate migrate` first): %w", err)
		}
		authn, err := auth.NewService(auth.Config{
			DB: a.DB, Users: users, Key: key, Issuer: a.Config.PublicURL, Registerer: a.Metrics.Registry,
		}, a.Logger)
		if err != nil {
			return err
		}
		user.RegisterRoutes(a.HTTP, users)
		auth.RegisterRoutes(a.HTTP, authn)
		a.HTTP.SetAuthenticator(authn)
	}

	if !a.Role.runs(RoleEventConsumer) {
		return nil
	}
	mailer, err := mail.NewMailer(a.Config.SMTPURL, a.Config.MailFrom, a.Logger)
	if err != nil {
		return fmt.Errorf("WAGATE_SMTP_URL: %w", err)
	}
	deliverer, err := mail.NewDeliverer(mail.DelivererConfig{
		DB: a.DB, Mailer: mailer, PublicURL: a.Config.PublicURL, Registerer: a.Metrics.Registry,
	}, a.Logger)
	if err != nil {
		return err
	}
	a.subscribe(RoleEventConsumer, deliverer.Subscription())
	return nil
}
