package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
	"github.com/wagate/wagate/internal/httpapi"
	"github.com/wagate/wagate/internal/store"
	"github.com/wagate/wagate/internal/user"
)

// Users is what auth needs from the user context.
type Users interface {
	// CheckCredentials returns the account of an email and password, or
	// user.ErrInvalidCredentials / a state error (not verified, suspended).
	CheckCredentials(ctx context.Context, email, password string) (*user.User, error)
	// CheckActive returns nil when the tenant's account may act.
	CheckActive(ctx context.Context, tenantID string) error
}

var _ Users = (*user.Service)(nil)

// ErrTooManyAttempts is the 429 of the login rate limit; its
// RetryAfterSeconds is set per answer.
var ErrTooManyAttempts = apperr.RateLimited("too-many-attempts", "too many failed logins; try again later", 0)

// ErrAPIKeyCannotManageKeys stops a (possibly leaked) API key from minting
// more keys: creating one needs a user's access token.
var ErrAPIKeyCannotManageKeys = apperr.Forbidden("access-token-required", "creating API keys needs an access token, not an API key")

// Config configures a Service.
type Config struct {
	DB    *store.DB
	Users Users
	Key   SigningKey
	// Issuer is the iss of access tokens, normally WAGATE_PUBLIC_URL.
	Issuer string
	// Audience is the aud of access tokens (default "wagate").
	Audience string
	// AccessTTL is the access token lifetime (default 15m).
	AccessTTL time.Duration
	// RefreshTTL is the refresh token lifetime (default 30 days).
	RefreshTTL time.Duration
	// EmailLimit and AddressLimit cap failed logins per email and per
	// client address (defaults 10 and 50 per 15 minutes).
	EmailLimit   Limit
	AddressLimit Limit
	// Registerer receives the auth metrics; nil skips them.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Audience == "" {
		c.Audience = "wagate"
	}
	if c.AccessTTL <= 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	if c.EmailLimit.Max <= 0 || c.EmailLimit.Window <= 0 {
		c.EmailLimit = Limit{Max: 10, Window: 15 * time.Minute}
	}
	if c.AddressLimit.Max <= 0 || c.AddressLimit.Window <= 0 {
		c.AddressLimit = Limit{Max: 50, Window: 15 * time.Minute}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service holds the auth use cases and authenticates requests.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	access  *AccessTokens
	keys    apiKeyStore
	limiter *failureLimiter
	// logins counts login answers by result; reuses counts refresh tokens
	// presented again (each one a stolen-token alarm).
	logins *prometheus.CounterVec
	reuses prometheus.Counter
}

var _ httpapi.Authenticator = (*Service)(nil)

// NewService validates cfg and returns the service.
func NewService(cfg Config, logger *slog.Logger) (*Service, error) {
	cfg.setDefaults()
	if cfg.DB == nil || cfg.Users == nil {
		return nil, errors.New("auth service: DB and Users are required")
	}
	if cfg.Key.ID() == "" {
		return nil, errors.New("auth service: a signing key is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("auth service: Issuer is required")
	}
	s := &Service{
		cfg:     cfg,
		logger:  logger,
		access:  NewAccessTokens(cfg.Key, cfg.Issuer, cfg.Audience, cfg.AccessTTL, cfg.Now),
		keys:    apiKeyStore{db: cfg.DB},
		limiter: &failureLimiter{db: cfg.DB, now: cfg.Now, keep: max(cfg.EmailLimit.Window, cfg.AddressLimit.Window)},
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagate_auth_logins_total",
			Help: "Login attempts by result (success, invalid_credentials, rate_limited, refused).",
		}, []string{"result"}),
		reuses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wagate_auth_refresh_reuse_total",
			Help: "Spent or revoked refresh tokens presented again; each revoked its session.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.logins, s.reuses} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("auth metrics: %w", err)
			}
		}
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// JWKS is the public key set that verifies access tokens.
func (s *Service) JWKS() JWKS { return JWKS{Keys: []JWK{s.cfg.Key.JWK()}} }

// TokenPair is what a login or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int
}

// Login checks an email and password from a client address and starts a
// session (a new refresh token family). Failures count against both the
// email and the address; either limit exhausted answers 429 before any
// password is checked.
func (s *Service) Login(ctx context.Context, email, password, clientAddr string) (TokenPair, error) {
	emailKey := "login:email:" + user.Digest(strings.ToLower(strings.TrimSpace(email)))
	addrKey := "login:addr:" + clientAddr
	for _, c := range []struct {
		key string
		lim Limit
	}{{emailKey, s.cfg.EmailLimit}, {addrKey, s.cfg.AddressLimit}} {
		wait, err := s.limiter.retryAfter(ctx, c.key, c.lim)
		if err != nil {
			return TokenPair{}, err
		}
		if wait > 0 {
			e := *ErrTooManyAttempts
			e.RetryAfterSeconds = seconds(wait)
			s.logins.WithLabelValues("rate_limited").Inc()
			return TokenPair{}, &e
		}
	}
	u, err := s.cfg.Users.CheckCredentials(ctx, email, password)
	if errors.Is(err, user.ErrInvalidCredentials) {
		if err := s.limiter.fail(ctx, emailKey, s.cfg.EmailLimit); err != nil {
			return TokenPair{}, err
		}
		if err := s.limiter.fail(ctx, addrKey, s.cfg.AddressLimit); err != nil {
			return TokenPair{}, err
		}
		s.logins.WithLabelValues("invalid_credentials").Inc()
		s.logger.InfoContext(ctx, "login failed", "remote", clientAddr)
		return TokenPair{}, err
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindForbidden {
			s.logins.WithLabelValues("refused").Inc()
		}
		return TokenPair{}, err
	}
	var pair TokenPair
	err = s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		pair, err = s.issue(ctx, tx, u.ID(), eventlog.NewID())
		return err
	})
	if err != nil {
		return TokenPair{}, err
	}
	s.logins.WithLabelValues("success").Inc()
	s.logger.InfoContext(ctx, "login", "userId", u.ID(), "remote", clientAddr)
	return pair, nil
}

func (s *Service) issue(ctx context.Context, tx *sql.Tx, userID, familyID string) (TokenPair, error) {
	refresh, err := createRefresh(ctx, tx, userID, familyID, s.now(), s.cfg.RefreshTTL)
	if err != nil {
		return TokenPair{}, err
	}
	access, _, err := s.access.Issue(userID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(s.cfg.AccessTTL.Seconds())}, nil
}

// Refresh spends a refresh token and returns a new pair in the same family.
// Presenting a token that was already spent means a copy exists: the whole
// family is revoked, the legitimate successor included.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	// The account check reads outside the transaction, so it runs first:
	// a query on another connection while a transaction holds SQLite's
	// only one (":memory:") would wait forever.
	owner, found, err := familyOf(ctx, s.cfg.DB.SQL, refreshToken)
	if err != nil {
		return TokenPair{}, err
	}
	if !found {
		return TokenPair{}, ErrInvalidRefreshToken
	}
	if err := s.cfg.Users.CheckActive(ctx, owner.userID); err != nil {
		if errors.Is(err, user.ErrNotFound) {
			return TokenPair{}, ErrInvalidRefreshToken
		}
		return TokenPair{}, err
	}
	now := s.now()
	var pair TokenPair
	var reused spent
	err = s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		reused = spent{}
		sp, err := spendRefresh(ctx, tx, refreshToken, now)
		if errors.Is(err, errRefreshReused) {
			// Commit the revocation; the caller still gets a 401.
			reused = sp
			return revokeFamily(ctx, tx, sp.userID, sp.familyID, now)
		}
		if err != nil {
			return err
		}
		pair, err = s.issue(ctx, tx, sp.userID, sp.familyID)
		return err
	})
	if err != nil {
		return TokenPair{}, err
	}
	if reused.familyID != "" {
		s.reuses.Inc()
		s.logger.WarnContext(ctx, "refresh token reused: session revoked", "userId", reused.userID, "family", reused.familyID)
		return TokenPair{}, ErrInvalidRefreshToken
	}
	return pair, nil
}

// Logout ends the session a refresh token belongs to (its whole family).
// Unknown tokens are ignored: logging out is idempotent.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	now := s.now()
	return s.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		sp, ok, err := familyOf(ctx, tx, refreshToken)
		if err != nil || !ok {
			return err
		}
		return revokeFamily(ctx, tx, sp.userID, sp.familyID, now)
	})
}

// CreateAPIKey makes a key for the caller's tenant and returns it with its
// secret, which is never shown again.
func (s *Service) CreateAPIKey(ctx context.Context, p httpapi.Principal, name string) (APIKey, string, error) {
	if p.APIKeyID != "" {
		return APIKey{}, "", ErrAPIKeyCannotManageKeys
	}
	return s.keys.create(ctx, p.TenantID, name, s.now())
}

// ListAPIKeys returns a page of the tenant's live keys.
func (s *Service) ListAPIKeys(ctx context.Context, tenantID string, limit int, cursor string) ([]APIKey, string, error) {
	if len(cursor) > 64 {
		return nil, "", ErrInvalidCursor
	}
	return s.keys.list(ctx, tenantID, limit, cursor)
}

// RevokeAPIKey revokes one of the tenant's keys; another tenant's key is
// not found.
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, id string) error {
	return s.keys.revoke(ctx, tenantID, id, s.now())
}

// Authenticate implements httpapi.Authenticator: a bearer access token in
// Authorization, or an API key in X-Api-Key. WebSocket upgrades may carry the
// access token in the access_token query parameter instead, since browsers
// cannot set headers on them; no other request may, because URLs end up in
// logs and histories.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (httpapi.Principal, bool, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return httpapi.Principal{}, false, ErrInvalidAccessToken
		}
		return s.principalOfToken(token)
	}
	if key := r.Header.Get("X-Api-Key"); key != "" {
		tenantID, keyID, err := s.keys.lookup(ctx, strings.TrimSpace(key), s.now())
		if err != nil {
			return httpapi.Principal{}, false, err
		}
		if err := s.cfg.Users.CheckActive(ctx, tenantID); err != nil {
			if errors.Is(err, user.ErrNotFound) {
				return httpapi.Principal{}, false, ErrInvalidAPIKey
			}
			return httpapi.Principal{}, false, err
		}
		return httpapi.Principal{UserID: tenantID, TenantID: tenantID, APIKeyID: keyID}, true, nil
	}
	if token := r.URL.Query().Get("access_token"); token != "" && isWebSocketUpgrade(r) {
		return s.principalOfToken(token)
	}
	return httpapi.Principal{}, false, nil
}

func (s *Service) principalOfToken(token string) (httpapi.Principal, bool, error) {
	userID, err := s.access.Verify(token)
	if err != nil {
		return httpapi.Principal{}, false, err
	}
	return httpapi.Principal{UserID: userID, TenantID: userID}, true, nil
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// String keeps a TokenPair's secrets out of logs and error messages.
func (p TokenPair) String() string {
	return fmt.Sprintf("TokenPair{expiresIn: %d}", p.ExpiresIn)
}
