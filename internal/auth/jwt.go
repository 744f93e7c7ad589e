package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wagate/wagate/internal/apperr"
	"github.com/wagate/wagate/internal/eventlog"
)

// tokenType is the JWT "typ" of access tokens (RFC 9068), checked on
// verification so no other kind of JWT can pass for one.
const tokenType = "at+jwt"

// Access token errors. Expired is told apart so clients know to refresh.
var (
	ErrAccessTokenExpired = apperr.Unauthorized("access-token-expired", "the access token has expired; refresh it")
	ErrInvalidAccessToken = apperr.Unauthorized("invalid-access-token", "the access token is invalid")
)

// AccessTokens issues and verifies JWT access tokens: EdDSA (Ed25519) only,
// with a key id, issuer, audience, issue and expiry times.
type AccessTokens struct {
	key      SigningKey
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

// NewAccessTokens returns an issuer/verifier for key. ttl is the token
// lifetime; now is the clock (tests move it).
func NewAccessTokens(key SigningKey, issuer, audience string, ttl time.Duration, now func() time.Time) *AccessTokens {
	return &AccessTokens{
		key: key, issuer: issuer, audience: audience, ttl: ttl, now: now,
		// The accepted algorithm is pinned: "none", HMAC (key confusion with
		// the public key) and everything else are rejected before any key is
		// looked at.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
}

// Issue signs an access token for a user and returns it with its expiry.
func (a *AccessTokens) Issue(userID string) (string, time.Time, error) {
	now := a.now().UTC().Truncate(time.Second)
	exp := now.Add(a.ttl)
	claims := jwt.RegisteredClaims{
		Issuer:    a.issuer,
		Subject:   userID,
		Audience:  jwt.ClaimStrings{a.audience},
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        eventlog.NewID(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = a.key.ID()
	t.Header["typ"] = tokenType
	signed, err := t.SignedString(a.key.private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// Verify checks an access token and returns the user id it was issued to.
func (a *AccessTokens) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := a.parser.ParseWithClaims(token, &claims, a.keyFor)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			return "", ErrAccessTokenExpired
		}
		return "", ErrInvalidAccessToken
	}
	if claims.Subject == "" {
		return "", ErrInvalidAccessToken
	}
	return claims.Subject, nil
}

// keyFor picks the verification key by kid; the token's alg was already
// checked against the pinned list.
func (a *AccessTokens) keyFor(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); typ != tokenType {
		return nil, errors.New("not an access token")
	}
	kid, _ := t.Header["kid"].(string)
	if kid != a.key.ID() {
		return nil, errors.New("unknown key id")
	}
	return a.key.Public(), nil
}
