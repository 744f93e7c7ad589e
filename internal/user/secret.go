package user

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// NewSecret returns a random 256-bit token, URL-safe, and the digest to
// store in its place. Verification and reset tokens use it here; package
// auth uses it for refresh tokens and API keys.
func NewSecret() (token, digest string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, Digest(token), nil
}

// Digest is the hex SHA-256 of a token. A token of 256 random bits needs no
// slow hash: the digest cannot be reversed or guessed, and lookups by digest
// stay a single index probe.
func Digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
