// Package auth is the authentication context: login with rate limits,
// Ed25519-signed JWT access tokens and their JWKS, rotating refresh tokens
// with reuse detection, API keys, and the httpapi.Authenticator that turns a
// request's credentials into a principal. Passwords and account states
// belong to package user.
package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wagate/wagate/internal/store"
)

// settingsKey is where a generated signing key is kept (settings table), so
// a restart, or another API process, signs and verifies with the same key.
const settingsKey = "auth.jwt_ed25519_seed"

// SigningKey is the Ed25519 key that signs access tokens, with its key id.
type SigningKey struct {
	private ed25519.PrivateKey
	id      string
}

// NewSigningKey builds a key from a 32-byte Ed25519 seed.
func NewSigningKey(seed []byte) (SigningKey, error) {
	if len(seed) != ed25519.SeedSize {
		return SigningKey{}, fmt.Errorf("ed25519 seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k := SigningKey{private: priv}
	k.id = thumbprint(k.Public())
	return k, nil
}

// ParseSigningKey reads WAGATE_JWT_KEY: the base64 (standard or URL
// alphabet, padded or not) of a 32-byte Ed25519 seed, e.g. the output of
// `openssl rand -base64 32`. A 64-byte Go private key (seed‖public) is
// accepted too.
func ParseSigningKey(encoded string) (SigningKey, error) {
	encoded = strings.TrimSpace(encoded)
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(encoded); err == nil {
			break
		}
	}
	if err != nil {
		return SigningKey{}, errors.New("WAGATE_JWT_KEY: not base64")
	}
	if len(raw) == ed25519.PrivateKeySize {
		raw = raw[:ed25519.SeedSize]
	}
	k, err := NewSigningKey(raw)
	if err != nil {
		return SigningKey{}, fmt.Errorf("WAGATE_JWT_KEY: %w", err)
	}
	return k, nil
}

// GenerateSigningKey makes a fresh random key.
func GenerateSigningKey() (SigningKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return NewSigningKey(seed)
}

// LoadSigningKey returns the configured key (WAGATE_JWT_KEY) when encoded is
// set; otherwise the key kept in the settings table, generated and stored
// the first time. Concurrent first starts agree: the first insert wins and
// everyone reads it back.
func LoadSigningKey(ctx context.Context, db *store.DB, encoded string) (SigningKey, error) {
	if encoded != "" {
		return ParseSigningKey(encoded)
	}
	fresh, err := GenerateSigningKey()
	if err != nil {
		return SigningKey{}, err
	}
	seed := base64.StdEncoding.EncodeToString(fresh.private.Seed())
	var stored string
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO NOTHING`, settingsKey, seed, time.Now().UnixMilli()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, settingsKey).Scan(&stored)
	})
	if err != nil {
		return SigningKey{}, fmt.Errorf("load signing key from settings: %w", err)
	}
	k, err := ParseSigningKey(stored)
	if err != nil {
		return SigningKey{}, fmt.Errorf("stored signing key: %w", err)
	}
	return k, nil
}

// ID is the key id (the RFC 7638 JWK thumbprint), sent as the token's kid.
func (k SigningKey) ID() string { return k.id }

// Public is the verification key.
func (k SigningKey) Public() ed25519.PublicKey { return k.private.Public().(ed25519.PublicKey) }

// JWK is one public key in a JWK Set.
type JWK struct {
	KeyType   string `json:"kty" example:"OKP"`
	Curve     string `json:"crv" example:"Ed25519"`
	X         string `json:"x" doc:"The public key, base64url."`
	KeyID     string `json:"kid"`
	Use       string `json:"use" example:"sig"`
	Algorithm string `json:"alg" example:"EdDSA"`
}

// JWKS is a JSON Web Key Set (RFC 7517).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK returns the public half of k as a JWK.
func (k SigningKey) JWK() JWK {
	return JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public()),
		KeyID: k.id, Use: "sig", Algorithm: "EdDSA"}
}

// thumbprint is the RFC 7638 thumbprint of an Ed25519 public key (RFC 8037
// §2: required members crv, kty, x in lexicographic order).
func thumbprint(pub ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
