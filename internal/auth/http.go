package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/wagate/wagate/internal/httpapi"
)

// The JSON shapes of the auth routes (architecture brief §6).

type loginInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" example:"ada@example.com"`
		Password string `json:"password" maxLength:"1024"`
	}
}

// tokenPairBody is the answer to login and refresh.
type tokenPairBody struct {
	AccessToken  string `json:"accessToken" doc:"JWT (EdDSA) for Authorization: Bearer; valid for expiresIn seconds."`
	RefreshToken string `json:"refreshToken" doc:"Single-use; trade it at POST /auth/refresh for a new pair (30 days)."`
	TokenType    string `json:"tokenType" enum:"Bearer"`
	ExpiresIn    int    `json:"expiresIn" doc:"Access token lifetime in seconds." example:"900"`
}

type tokenPairOutput struct {
	// Token responses must not be cached (RFC 6749 §5.1).
	CacheControl string `header:"Cache-Control"`
	Body         tokenPairBody
}

func pairOutput(p TokenPair) *tokenPairOutput {
	return &tokenPairOutput{CacheControl: "no-store", Body: tokenPairBody{
		AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", ExpiresIn: p.ExpiresIn,
	}}
}

type refreshInput struct {
	Body struct {
		RefreshToken string `json:"refreshToken" maxLength:"512"`
	}
}

type jwksOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         JWKS
}

type createKeyInput struct {
	// Body is optional: a key needs no name.
	Body *struct {
		Name string `json:"name,omitempty" maxLength:"100" doc:"A label to tell keys apart." example:"CRM integration"`
	}
}

// apiKeyView is a key in lists: the prefix, never the secret.
type apiKeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix" doc:"The first characters of the key, to recognise it." example:"wag_Xy12Ab34"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

func viewOf(k APIKey) apiKeyView {
	v := apiKeyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt
		v.LastUsedAt = &t
	}
	return v
}

type createdKeyOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         struct {
		apiKeyView
		Key string `json:"key" doc:"The secret, shown only in this answer. Send it as X-Api-Key."`
	}
}

type listKeysInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"64" doc:"nextCursor of the previous page."`
}

type listKeysOutput struct {
	Body struct {
		Items      []apiKeyView `json:"items"`
		NextCursor string       `json:"nextCursor,omitempty"`
	}
}

type keyIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

var authenticated = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

type clientAddrKey struct{}

// withClientAddr is an operation middleware that puts the caller's address
// (httpapi.ClientIP, the one rate limits use everywhere) in the context.
func withClientAddr(ctx huma.Context, next func(huma.Context)) {
	addr := ""
	if r, _ := humago.Unwrap(ctx); r != nil {
		addr = httpapi.ClientIP(r)
	}
	next(huma.WithValue(ctx, clientAddrKey{}, addr))
}

func clientAddr(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddrKey{}).(string)
	return addr
}

// RegisterRoutes adds login, refresh, logout, API keys and the JWKS to the API.
func RegisterRoutes(srv *httpapi.Server, s *Service) {
	api := srv.API
	huma.Register(api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/auth/login",
		Summary: "Log in", Tags: []string{"auth"},
		Description: "Any wrong email or password answers one generic 401. A right password on an unverified account answers 403 email-not-verified. Failed logins are limited per email and per client address (429 with Retry-After).",
		Middlewares: huma.Middlewares{withClientAddr},
	}, func(ctx context.Context, in *loginInput) (*tokenPairOutput, error) {
		p, err := s.Login(ctx, in.Body.Email, in.Body.Password, clientAddr(ctx))
		if err != nil {
			return nil, err
		}
		return pairOutput(p), nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "refresh", Method: http.MethodPost, Path: "/auth/refresh",
		Summary: "Trade a refresh token for a new pair", Tags: []string{"auth"},
		Description: "The refresh token is spent. Presenting a spent token again revokes its whole session, the newest token included.",
	}, func(ctx context.Context, in *refreshInput) (*tokenPairOutput, error) {
		p, err := s.Refresh(ctx, in.Body.RefreshToken)
		if err != nil {
			return nil, err
		}
		return pairOutput(p), nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/auth/logout",
		Summary: "End a session", Tags: []string{"auth"}, DefaultStatus: http.StatusNoContent,
		Description: "Revokes the refresh token and its whole session. Access tokens already issued expire on their own (15 minutes).",
	}, func(ctx context.Context, in *refreshInput) (*struct{}, error) {
		return nil, s.Logout(ctx, in.Body.RefreshToken)
	})

	huma.Register(api, huma.Operation{
		OperationID: "jwks", Method: http.MethodGet, Path: "/.well-known/jwks.json",
		Summary: "Public keys that verify access tokens", Tags: []string{"auth"},
	}, func(ctx context.Context, _ *struct{}) (*jwksOutput, error) {
		return &jwksOutput{CacheControl: "public, max-age=300", Body: s.JWKS()}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "create-api-key", Method: http.MethodPost, Path: "/api-keys",
		Summary: "Create an API key", Tags: []string{"api-keys"}, DefaultStatus: http.StatusCreated,
		Security:    []map[string][]string{{"bearer": {}}},
		Description: "The secret is in this answer only; it is stored hashed. Needs an access token (an API key cannot create keys).",
	}, func(ctx context.Context, in *createKeyInput) (*createdKeyOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		name := ""
		if in.Body != nil {
			name = in.Body.Name
		}
		k, secret, err := s.CreateAPIKey(ctx, p, name)
		if err != nil {
			return nil, err
		}
		out := &createdKeyOutput{CacheControl: "no-store"}
		out.Body.apiKeyView = viewOf(k)
		out.Body.Key = secret
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-api-keys", Method: http.MethodGet, Path: "/api-keys",
		Summary: "List API keys", Tags: []string{"api-keys"}, Security: authenticated,
	}, func(ctx context.Context, in *listKeysInput) (*listKeysOutput, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		keys, next, err := s.ListAPIKeys(ctx, p.TenantID, in.Limit, in.Cursor)
		if err != nil {
			return nil, err
		}
		out := &listKeysOutput{}
		out.Body.Items = make([]apiKeyView, 0, len(keys))
		for _, k := range keys {
			out.Body.Items = append(out.Body.Items, viewOf(k))
		}
		out.Body.NextCursor = next
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "delete-api-key", Method: http.MethodDelete, Path: "/api-keys/{id}",
		Summary: "Revoke an API key", Tags: []string{"api-keys"}, DefaultStatus: http.StatusNoContent, Security: authenticated,
	}, func(ctx context.Context, in *keyIDInput) (*struct{}, error) {
		p, err := httpapi.PrincipalFrom(ctx)
		if err != nil {
			return nil, err
		}
		return nil, s.RevokeAPIKey(ctx, p.TenantID, in.ID)
	})
}
