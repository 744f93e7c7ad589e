package httpapi

import (
	"context"
	"net/http"

	"github.com/wagate/wagate/internal/apperr"
)

// Principal is who is calling: a user, by access token or API key. The user
// id is the tenant id; every store query takes it.
type Principal struct {
	UserID   string
	TenantID string
	// APIKeyID is set when the caller used an API key.
	APIKeyID string
}

// Authenticator turns request credentials into a principal. The auth context
// implements it; httpapi only knows the port.
type Authenticator interface {
	// Authenticate checks a bearer access token or an API key. It returns
	// ok=false when the request carries no credentials at all.
	Authenticate(ctx context.Context, r *http.Request) (p Principal, ok bool, err error)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

type authErrKey struct{}

// ErrUnauthenticated is the answer to a protected call without valid credentials.
var ErrUnauthenticated = apperr.Unauthorized("unauthenticated", "missing or invalid credentials")

// PrincipalFrom returns the authenticated caller, or a 401 error.
func PrincipalFrom(ctx context.Context) (Principal, error) {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok && p.TenantID != "" {
		return p, nil
	}
	if err, ok := ctx.Value(authErrKey{}).(error); ok && err != nil {
		if _, classified := apperr.As(err); classified {
			return Principal{}, err
		}
	}
	return Principal{}, ErrUnauthenticated
}

// authenticate attaches the principal (or the reason credentials were
// refused) to the request context. Whether a route needs a principal is the
// route's decision, made by calling PrincipalFrom.
func authenticate(a Authenticator, next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := a.Authenticate(r.Context(), r)
		ctx := r.Context()
		switch {
		case err != nil:
			ctx = context.WithValue(ctx, authErrKey{}, err)
		case ok:
			ctx = WithPrincipal(ctx, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
