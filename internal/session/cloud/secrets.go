package cloud

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MinSecretKeyLen is the shortest WAGATE_SECRET_KEY accepted.
const MinSecretKeyLen = 16

// sealedPrefix versions the format of stored ciphertexts.
const sealedPrefix = "v1."

// errUnsealable: a stored secret does not decrypt with this key (the key
// changed, or the value was tampered with).
var errUnsealable = errors.New("stored secret does not decrypt with WAGATE_SECRET_KEY (was the key changed?)")

// Secrets encrypts provider secrets at rest (AES-256-GCM) and authenticates
// verify tokens (HMAC-SHA256), with keys derived from WAGATE_SECRET_KEY by
// HKDF-SHA256 so neither key is the configured string itself.
type Secrets struct {
	aead   cipher.AEAD
	macKey []byte
}

// NewSecrets derives the keys from the configured secret key.
func NewSecrets(key string) (*Secrets, error) {
	if len(key) < MinSecretKeyLen {
		return nil, fmt.Errorf("WAGATE_SECRET_KEY must be at least %d characters (e.g. openssl rand -base64 32)", MinSecretKeyLen)
	}
	encKey, err := hkdf.Key(sha256.New, []byte(key), nil, "wagate cloud credentials v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive encryption key: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, []byte(key), nil, "wagate cloud verify token v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive verify-token key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Secrets{aead: aead, macKey: macKey}, nil
}

// Seal encrypts plain for storage. binding (e.g. "session-id/access_token")
// is authenticated with it, so a ciphertext copied to another row or column
// does not decrypt there.
func (s *Secrets) Seal(plain, binding string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(binding))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal produced with the same binding.
func (s *Secrets) Open(sealed, binding string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errUnsealable
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errUnsealable
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(binding))
	if err != nil {
		return "", errUnsealable
	}
	return string(plain), nil
}

// MAC authenticates a verify token: the stored value to look tokens up by,
// useless for guessing tokens offline without the key.
func (s *Secrets) MAC(v string) string {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}
