package user

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/wagate/wagate/internal/httpapi"
)

// The JSON shapes of the user routes (architecture brief §6).

type registerInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" doc:"The account's email address; a verification link is mailed to it." example:"ada@example.com"`
		Password string `json:"password" maxLength:"1024" doc:"8 to 256 characters, no composition rules." example:"correct horse battery staple"`
	}
}

type registerOutput struct {
	Body struct {
		UserID string `json:"userId" doc:"The new user's id (also its tenant id)."`
		Status string `json:"status" enum:"pending_verification"`
	}
}

type tokenInput struct {
	Body struct {
		Token string `json:"token" maxLength:"512" doc:"The token from the mailed link's token= parameter."`
	}
}

type verifyOutput struct {
	Body struct {
		UserID string `json:"userId"`
		Status string `json:"status" enum:"active"`
	}
}

type emailInput struct {
	Body struct {
		Email string `json:"email" maxLength:"254" example:"ada@example.com"`
	}
}

type resetInput struct {
	Body struct {
		Token    string `json:"token" maxLength:"512" doc:"The token from the mailed reset link."`
		Password string `json:"password" maxLength:"1024" doc:"The new password, 8 to 256 characters."`
	}
}

// Me is the current user as GET /me shows it.
type Me struct {
	ID         string     `json:"id" doc:"User id, which is also the tenant id."`
	Email      string     `json:"email"`
	Status     string     `json:"status" enum:"pending_verification,active,suspended"`
	CreatedAt  time.Time  `json:"createdAt"`
	VerifiedAt *time.Time `json:"verifiedAt,omitempty"`
}

type meOutput struct {
	Body Me
}

var authenticated = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

// RegisterRoutes adds the user routes to the API: sign-up, verification,
// password reset and GET /me, plus the small pages the mailed links open.
func RegisterRoutes(srv *httpapi.Server, s *Service) {
	api := srv.API
	huma.Register(api, huma.Operation{
		OperationID: "register", Method: http.MethodPost, Path: "/auth/register",
		Summary: "Create an account", Tags: []string{"auth"}, DefaultStatus: http.StatusCreated,
		Description: "Creates a pending account and mails a verification link. An address that already has an account gets the same answer; its owner gets a mail instead.",
	}, func(ctx context.Context, in *registerInput) (*registerOutput, error) {
		r, err := s.Register(ctx, in.Body.Email, in.Body.Password)
		if err != nil {
			return nil, err
		}
		out := &registerOutput{}
		out.Body.UserID = r.UserID
		out.Body.Status = string(r.Status)
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "verify-email", Method: http.MethodPost, Path: "/auth/verify",
		Summary: "Verify the email address", Tags: []string{"auth"},
		Description: "Spends the token of a verification link and activates the account.",
	}, func(ctx context.Context, in *tokenInput) (*verifyOutput, error) {
		u, err := s.Verify(ctx, in.Body.Token)
		if err != nil {
			return nil, err
		}
		out := &verifyOutput{}
		out.Body.UserID = u.ID()
		out.Body.Status = string(u.Status())
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "resend-verification", Method: http.MethodPost, Path: "/auth/verify/resend",
		Summary: "Mail a new verification link", Tags: []string{"auth"}, DefaultStatus: http.StatusAccepted,
		Description: "Always 202, whether or not the address has a pending account.",
	}, func(ctx context.Context, in *emailInput) (*struct{}, error) {
		return nil, s.ResendVerification(ctx, in.Body.Email)
	})

	huma.Register(api, huma.Operation{
		OperationID: "forgot-password", Method: http.MethodPost, Path: "/auth/password/forgot",
		Summary: "Mail a password-reset link", Tags: []string{"auth"}, DefaultStatus: http.StatusAccepted,
		Description: "Always 202, whether or not the address has an account. The link works once, for one hour.",
	}, func(ctx context.Context, in *emailInput) (*struct{}, error) {
		return nil, s.RequestPasswordReset(ctx, in.Body.Email)
	})

	huma.Register(api, huma.Operation{
		OperationID: "reset-password", Method: http.MethodPost, Path: "/auth/password/reset",
		Summary: "Set a new password with a reset token", Tags: []string{"auth"}, DefaultStatus: http.StatusNoContent,
		Description: "Spends the reset token, sets the password and logs out every session (all refresh tokens are revoked).",
	}, func(ctx context.Context, in *resetInput) (*struct{}, error) {
		return nil, s.ResetPassword(ctx, in.Body.Token, in.Body.Password)
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-me", Method: http.MethodGet, Path: "/me",
		Summary: "The current user", Tags: []string{"auth"}, Security: authenticated,
	}, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		u, err := s.Get(ctx, p.TenantID)
		if err != nil {
			return nil, err
		}
		return &meOutput{Body: MeOf(u)}, nil
	})

	srv.Mux.HandleFunc("GET /auth/verify", verifyPage)
	srv.Mux.HandleFunc("GET /auth/password/reset", resetPage)
}

// MeOf is the public view of a user.
func MeOf(u *User) Me {
	m := Me{ID: u.ID(), Email: u.Email(), Status: string(u.Status()), CreatedAt: u.CreatedAt()}
	if v := u.VerifiedAt(); !v.IsZero() {
		m.VerifiedAt = &v
	}
	return m
}
